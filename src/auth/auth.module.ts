import { createSecretKey } from 'node:crypto';
import { Module, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import type { AppConfig } from '../config/configuration';
import { UsersModule } from '../users/users.module';
import { AuthController } from './auth.controller';
import { AuthService } from './auth.service';
import { Clock } from './clock';
import { JWT_ALGORITHM, JwtStrategy } from './jwt.strategy';
import { PasswordController } from './password.controller';
import { PasswordService } from './password.service';
import { PgThrottlerStorage } from './pg-throttler-storage';
import { RateLimitsRepository } from './rate-limits.repository';
import { SessionsRepository } from './sessions.repository';
import { SessionCookie, TrustedOriginGuard } from './session-cookie';
import { SessionsController } from './sessions.controller';
import { SessionsService } from './sessions.service';
import { VerifiedTokenCache } from './verified-token-cache';

const PURGE_INTERVAL_MS = 3_600_000;

/**
 * Exports what the global JwtAuthGuard (registered in AppModule) needs: the verified-token
 * cache, the revocation set and the session look-up; and the throttler storage AppModule's
 * ThrottlerModule is built with.
 */
@Module({
  imports: [
    UsersModule,
    PassportModule,
    JwtModule.registerAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService<AppConfig, true>) => {
        // A KeyObject, as in JwtStrategy: given the string, jsonwebtoken tries createPrivateKey()
        // on it, fails, and builds a secret key, on every token signed (login, refresh).
        const key = createSecretKey(Buffer.from(config.get('auth.jwtSecret', { infer: true })));
        return {
          privateKey: key,
          publicKey: key,
          signOptions: { algorithm: JWT_ALGORITHM },
          verifyOptions: { algorithms: [JWT_ALGORITHM] },
        };
      },
    }),
  ],
  controllers: [AuthController, SessionsController, PasswordController],
  providers: [
    AuthService,
    PasswordService,
    JwtStrategy,
    Clock,
    SessionsService,
    SessionsRepository,
    SessionCookie,
    TrustedOriginGuard,
    PgThrottlerStorage,
    RateLimitsRepository,
    // One cache for the strategy, which fills it, and JwtAuthGuard, which reads it.
    { provide: VerifiedTokenCache, useFactory: () => new VerifiedTokenCache() },
  ],
  exports: [VerifiedTokenCache, SessionsService, PgThrottlerStorage],
})
export class AuthModule implements OnModuleInit, OnModuleDestroy {
  private purge: NodeJS.Timeout | undefined;

  constructor(private readonly sessions: SessionsService) {}

  onModuleInit(): void {
    this.purge = setInterval(
      () => void this.sessions.purge().catch(() => undefined),
      PURGE_INTERVAL_MS,
    );
    this.purge.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.purge);
  }
}
