import { Global, Module } from '@nestjs/common';
import { PgNotifications } from './pg-notifications';
import { Sql } from './sql.service';

@Global()
@Module({ providers: [Sql, PgNotifications], exports: [Sql, PgNotifications] })
export class DatabaseModule {}
