import { Module } from '@nestjs/common';
import { IdempotencyService } from './idempotency.service';

/** Exports IdempotencyService: routes that create things wrap their writes in its run(). */
@Module({ providers: [IdempotencyService], exports: [IdempotencyService] })
export class IdempotencyModule {}
