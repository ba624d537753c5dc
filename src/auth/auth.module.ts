import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import type { AppConfig } from '../config/configuration';
import { UsersModule } from '../users/users.module';
import { AuthController } from './auth.controller';
import { AuthService } from './auth.service';
import { JWT_ALGORITHM, JwtStrategy } from './jwt.strategy';
import { PasswordService } from './password.service';
import { VerifiedTokenCache } from './verified-token-cache';

@Module({
  imports: [
    UsersModule,
    PassportModule,
    JwtModule.registerAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService<AppConfig, true>) => ({
        secret: config.get('auth.jwtSecret', { infer: true }),
        signOptions: {
          algorithm: JWT_ALGORITHM,
          expiresIn: config.get('auth.jwtExpiresIn', { infer: true }),
        },
        verifyOptions: { algorithms: [JWT_ALGORITHM] },
      }),
    }),
  ],
  controllers: [AuthController],
  providers: [
    AuthService,
    PasswordService,
    JwtStrategy,
    // One cache for the strategy, which fills it, and JwtAuthGuard, which reads it.
    { provide: VerifiedTokenCache, useFactory: () => new VerifiedTokenCache() },
  ],
  exports: [VerifiedTokenCache],
})
export class AuthModule {}
