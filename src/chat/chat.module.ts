import { Module } from '@nestjs/common';
import { AssistantModule } from '../assistant/assistant.module';
import { AuthModule } from '../auth/auth.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { ChatRoomsController } from './chat-rooms.controller';
import { ChatRoomsRepository } from './chat-rooms.repository';
import { ChatRoomsService } from './chat-rooms.service';
import { MessagesRepository } from './messages.repository';

@Module({
  // AssistantModule: a room's model must be one the assistant offers (ModelCatalog).
  // IdempotencyModule: POSTs that create run through IdempotencyService.
  // AuthModule: SessionsService tells 401 from 404 when a statement found nothing.
  imports: [AssistantModule, IdempotencyModule, AuthModule],
  controllers: [ChatRoomsController],
  providers: [ChatRoomsService, ChatRoomsRepository, MessagesRepository],
})
export class ChatModule {}
