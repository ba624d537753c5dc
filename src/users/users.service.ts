import { ConflictException, Injectable, UnauthorizedException } from '@nestjs/common';
import { QueryFailedError } from 'typeorm';
import type { AuthUser, TokenCaller } from '../auth/auth-user';
import type { User } from './entities/user.entity';
import { UsersRepository, type NewUser } from './users.repository';

export type { NewUser } from './users.repository';

const DELETE_ATTEMPTS = 3;

/** deadlock_detected or serialization_failure: the statement was rolled back, run it again. */
function isTransactionRollback(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

@Injectable()
export class UsersService {
  constructor(private readonly users: UsersRepository) {}

  async create(data: NewUser): Promise<User> {
    try {
      return await this.users.create(data);
    } catch (error) {
      if (
        error instanceof QueryFailedError &&
        (error.driverError as { code?: string }).code === '23505'
      ) {
        throw new ConflictException('Email is already registered');
      }
      throw error;
    }
  }

  /** The caller's user; 401 when the session is no longer live. */
  async me(caller: TokenCaller): Promise<AuthUser> {
    const user = await this.users.findCaller(caller);
    if (!user) throw new UnauthorizedException('Unauthorized');
    return user;
  }

  /** The only read that includes the password hash: login needs it, nothing else may. */
  findWithPasswordHash(email: string): Promise<User | null> {
    return this.users.findWithPasswordHash(email);
  }

  /** The stored hash, for a password change (null when the session is not live). */
  passwordHashOf(caller: TokenCaller): Promise<string | null> {
    return this.users.passwordHashOf(caller);
  }

  /**
   * Deletes the user; their rooms, messages and sessions go with them (ON DELETE CASCADE). A
   * reply still running writes its room and message, then its usage row
   * (a key-share lock on the user), while the deletion holds the user and wants the room:
   * PostgreSQL ends such a deadlock by rolling one side back. The deletion, rolled back whole,
   * is run again.
   */
  async remove(caller: TokenCaller): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        if (!(await this.users.delete(caller))) throw new UnauthorizedException('Unauthorized');
        return;
      } catch (error) {
        if (attempt >= DELETE_ATTEMPTS || !isTransactionRollback(error)) throw error;
      }
    }
  }
}
