import { Module } from '@nestjs/common';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { EventStreamSlots } from './event-stream-slots';
import { GenerationRegistry } from './generation-registry';
import { GenerationsController } from './generations.controller';
import { GenerationsService } from './generations.service';
import { InstanceLease } from './instance-lease';
import { ModelCatalog } from './model-catalog';
import { ModelClient } from './model-client';

/**
 * The assistant's replies: streamed from an OpenAI-compatible model, stored as they come,
 * served to any instance's clients. Exports ModelCatalog only: ChatModule checks a room's
 * `model` against the models offered.
 */
@Module({
  imports: [IdempotencyModule],
  controllers: [GenerationsController],
  providers: [
    ModelCatalog,
    ModelClient,
    InstanceLease,
    EventStreamSlots,
    GenerationRegistry,
    GenerationsService,
  ],
  exports: [ModelCatalog],
})
export class AssistantModule {}
