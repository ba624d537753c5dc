import { Global, Module } from '@nestjs/common';
import { InstanceLease } from './instance-lease';
import { InstanceLeaseRepository } from './instance-lease.repository';
import { PgPubSub } from './pg-pubsub';
import { Sql } from './sql.service';

@Global()
@Module({
  providers: [Sql, PgPubSub, InstanceLease, InstanceLeaseRepository],
  exports: [Sql, PgPubSub, InstanceLease],
})
export class DatabaseModule {}
