import { Module } from '@nestjs/common';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { EventStreamSlots } from './event-stream-slots';
import { EventStreamsRepository } from './event-streams.repository';
import { GenerationRegistry } from './generation-registry';
import { GenerationsController } from './generations.controller';
import { GenerationsRepository } from './generations.repository';
import { GenerationsService } from './generations.service';
import { InstanceLease } from './instance-lease';
import { InstanceLeaseRepository } from './instance-lease.repository';
import { ModelCatalog } from './model-catalog';
import { ModelClient } from './model-client';
import { RunningGenerationsRepository } from './running-generations.repository';

/**
 * The assistant's replies: streamed from an OpenAI-compatible model, stored as they come,
 * served to any instance's clients. Exports ModelCatalog only: ChatModule checks a room's
 * `model` against the models offered.
 */
@Module({
  imports: [IdempotencyModule],
  controllers: [GenerationsController],
  providers: [
    GenerationsRepository,
    RunningGenerationsRepository,
    EventStreamsRepository,
    InstanceLeaseRepository,
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
