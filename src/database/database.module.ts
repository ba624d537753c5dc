import { Global, Module } from '@nestjs/common';
import { PgPubSub } from './pg-pubsub';
import { Sql } from './sql.service';

@Global()
@Module({ providers: [Sql, PgPubSub], exports: [Sql, PgPubSub] })
export class DatabaseModule {}
