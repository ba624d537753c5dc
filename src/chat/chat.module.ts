import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AssistantModule } from '../assistant/assistant.module';
import { ChatRoomsController } from './chat-rooms.controller';
import { ChatRoomsService } from './chat-rooms.service';
import { ChatRoom } from './entities/chat-room.entity';
import { Message } from './entities/message.entity';

@Module({
  // AssistantModule: a room's model must be one the assistant offers (ModelCatalog).
  imports: [TypeOrmModule.forFeature([ChatRoom, Message]), AssistantModule],
  controllers: [ChatRoomsController],
  providers: [ChatRoomsService],
})
export class ChatModule {}
