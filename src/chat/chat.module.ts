import { Module } from '@nestjs/common';
import { AssistantModule } from '../assistant/assistant.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { ChatRoomsController } from './chat-rooms.controller';
import { ChatRoomsService } from './chat-rooms.service';

@Module({
  // AssistantModule: a room's model must be one the assistant offers (ModelCatalog).
  // IdempotencyModule: POSTs that create run through IdempotencyService.
  imports: [AssistantModule, IdempotencyModule],
  controllers: [ChatRoomsController],
  providers: [ChatRoomsService],
})
export class ChatModule {}
