import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AssistantModule } from './assistant/assistant.module';
import { AuthModule } from './auth/auth.module';
import { ChatModule } from './chat/chat.module';
import { accountTracker, ACCOUNT_THROTTLER } from './auth/guards/auth-throttler.guard';
import { JwtAuthGuard } from './auth/guards/jwt-auth.guard';
import { PgThrottlerStorage } from './auth/pg-throttler-storage';
import { AllExceptionsFilter } from './common/filters/all-exceptions.filter';
import { LoggingModule } from './common/logging.module';
import { StrictValidationPipe } from './common/pipes/strict-validation.pipe';
import type { Logger } from 'pino';
import type { AppConfig } from './config/configuration';
import { DatabaseModule } from './database/database.module';
import { ExportModule } from './export/export.module';
import { ImportModule } from './import/import.module';
import { buildTypeOrmOptions } from './database/typeorm-options';
import { HealthModule } from './health/health.module';
import { SearchModule } from './search/search.module';
import { UsersModule } from './users/users.module';

@Module({})
export class AppModule {
  /** The configuration is built and validated before the module graph, by createApp(). */
  static forRoot(config: AppConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, load: [() => config] }),
        LoggingModule.forRoot(logger),
        TypeOrmModule.forRootAsync({
          inject: [ConfigService],
          useFactory: (cfg: ConfigService<AppConfig, true>) =>
            buildTypeOrmOptions(cfg.get('database', { infer: true })),
        }),
        // Register and login: per client address; login also per account. Counted in
        // PostgreSQL, so the limits hold across instances.
        ThrottlerModule.forRootAsync({
          imports: [AuthModule],
          inject: [ConfigService, PgThrottlerStorage],
          useFactory: (cfg: ConfigService<AppConfig, true>, storage: PgThrottlerStorage) => {
            const limit = cfg.get('auth.rateLimit', { infer: true });
            return {
              storage,
              throttlers: [
                { ttl: 60_000, limit },
                { name: ACCOUNT_THROTTLER, ttl: 60_000, limit, getTracker: accountTracker },
              ],
            };
          },
        }),
        DatabaseModule,
        UsersModule,
        AuthModule,
        ChatModule,
        AssistantModule,
        SearchModule,
        ExportModule,
        ImportModule,
        HealthModule,
      ],
      providers: [
        { provide: APP_GUARD, useClass: JwtAuthGuard },
        { provide: APP_PIPE, useClass: StrictValidationPipe },
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
      ],
    };
  }
}
