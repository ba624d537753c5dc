import { ConflictException, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { QueryFailedError, Repository } from 'typeorm';
import type { AuthUser } from '../auth/auth-user';
import { Sql, statement } from '../database/sql.service';
import { User } from './entities/user.entity';

const FIND_BY_ID = statement(
  'users.findById',
  `SELECT id, email, display_name AS "displayName", created_at AS "createdAt" FROM users WHERE id = $1`,
);

const PASSWORD_HASH = statement(
  'users.passwordHash',
  `SELECT password_hash AS "passwordHash" FROM users WHERE id = $1`,
);

const DELETE_ATTEMPTS = 3;

/** deadlock_detected or serialization_failure: the statement was rolled back, run it again. */
function isTransactionRollback(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

export interface NewUser {
  email: string;
  passwordHash: string;
  displayName: string | null;
}

@Injectable()
export class UsersService {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly sql: Sql,
  ) {}

  async create(data: NewUser): Promise<User> {
    try {
      const [row] = (await this.users
        .createQueryBuilder()
        .insert()
        .values(data)
        .returning(['id', 'email', 'displayName', 'createdAt', 'updatedAt'])
        .execute()
        .then((r) => r.generatedMaps)) as User[];
      return row;
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

  /**
   * JwtAuthGuard runs it on every request of a route without @CallerCheckedByQuery(), so it is
   * one prepared statement: a repository find() costs several times the CPU for the same row.
   */
  async findById(id: string): Promise<AuthUser | null> {
    const [user] = await this.sql.rows<AuthUser>(FIND_BY_ID, [id]);
    return user ?? null;
  }

  /** The only read that includes the password hash: login needs it, nothing else may. */
  findWithPasswordHash(email: string): Promise<User | null> {
    return this.users.findOne({
      select: { id: true, email: true, displayName: true, createdAt: true, passwordHash: true },
      where: { email },
    });
  }

  /** The stored hash, for a password change (null when the user is gone). */
  async passwordHashOf(id: string): Promise<string | null> {
    const [row] = await this.sql.rows<{ passwordHash: string }>(PASSWORD_HASH, [id]);
    return row?.passwordHash ?? null;
  }

  /**
   * Deletes the user; their rooms, messages and sessions go with them (ON DELETE CASCADE). A
   * reply still running writes its room and message, then its usage row (a key-share lock on
   * the user), while the cascade holds the user and wants the room: PostgreSQL ends such a
   * deadlock by rolling one side back. The deletion, rolled back whole, is run again.
   */
  async remove(id: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.users.delete({ id });
        return;
      } catch (error) {
        if (attempt >= DELETE_ATTEMPTS || !isTransactionRollback(error)) throw error;
      }
    }
  }
}
