import { Module } from '@nestjs/common';
import { RevokedSessions } from './revoked-sessions';
import { SessionsRepository } from './sessions.repository';

/**
 * Whether a session is live (RevokedSessions) and the statements on `sessions`: for AuthModule,
 * and for UsersModule, whose user deletion revokes the user's sessions.
 */
@Module({
  providers: [RevokedSessions, SessionsRepository],
  exports: [RevokedSessions, SessionsRepository],
})
export class SessionStateModule {}
