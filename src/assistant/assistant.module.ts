import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { DeadInstanceSweeper } from './dead-instance-sweeper';
import { EventStreamSlots } from './event-stream-slots';
import { EventStreamsRepository } from './event-streams.repository';
import { EventStreamsService } from './event-streams.service';
import { GenerationCanceller } from './generation-canceller';
import { GenerationChanges } from './generation-changes';
import { GenerationContext } from './generation-context';
import { GenerationFlusher } from './generation-flusher';
import { GenerationFollower } from './generation-follower';
import { GenerationRegistry } from './generation-registry';
import { GenerationRunner } from './generation-runner';
import { GenerationsController } from './generations.controller';
import { GenerationsRepository } from './generations.repository';
import { GenerationsService } from './generations.service';
import { ModelCatalog } from './model-catalog';
import { ModelClient } from './model-client';
import { OwedEnds } from './owed-ends';
import { RoomTitler } from './room-titler';
import { RunningGenerationsRepository } from './running-generations.repository';
import { StartQueue } from './start-queue';

/**
 * The assistant's replies: streamed from an OpenAI-compatible model, stored as they come,
 * served to any instance's clients. Exports ModelCatalog only: ChatModule checks a room's
 * `model` against the models offered.
 */
@Module({
  // AuthModule: SessionsService tells 401 from 404 when a statement found nothing.
  imports: [IdempotencyModule, AuthModule],
  controllers: [GenerationsController],
  providers: [
    // Data
    GenerationsRepository,
    RunningGenerationsRepository,
    EventStreamsRepository,
    // The model
    ModelCatalog,
    ModelClient,
    // Starting, reading and cancelling a reply (HTTP-facing)
    GenerationsService,
    StartQueue,
    GenerationCanceller,
    // Running it on this instance
    GenerationRegistry,
    GenerationRunner,
    GenerationContext,
    RoomTitler,
    GenerationFlusher,
    OwedEnds,
    // Following its events, here or from another instance
    EventStreamsService,
    EventStreamSlots,
    GenerationFollower,
    GenerationChanges,
    // What dead instances left (liveness: InstanceLease, DatabaseModule)
    DeadInstanceSweeper,
  ],
  exports: [ModelCatalog],
})
export class AssistantModule {}
