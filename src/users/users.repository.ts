import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import type { AuthUser, TokenCaller } from '../auth/auth-user';
import { Sql } from '../database/sql.service';
import { statement } from '../database/statement';
import { User } from './entities/user.entity';

export interface NewUser {
  email: string;
  passwordHash: string;
  displayName: string | null;
}

/** Statements on behalf of a caller read or write nothing unless its session is live. */
type Caller = TokenCaller;

export const SQL = {
  findCaller: statement<Caller, AuthUser>(
    'users.findCaller',
    (p) => `
      SELECT id, email, display_name AS "displayName", created_at AS "createdAt"
      FROM users WHERE id = ${p.id} AND EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.id}))`,
  ),

  passwordHash: statement<Caller, { passwordHash: string }>(
    'users.passwordHash',
    (p) => `
      SELECT password_hash AS "passwordHash" FROM users
      WHERE id = ${p.id} AND EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.id}))`,
  ),

  // Their rooms, messages and sessions go with them (ON DELETE CASCADE).
  delete: statement<Caller, { id: string }>(
    'users.delete',
    (p) => `
      DELETE FROM users
      WHERE id = ${p.id} AND EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.id}))
      RETURNING id`,
  ),
};

@Injectable()
export class UsersRepository {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly sql: Sql,
  ) {}

  /** Rejects with the unique violation (23505) when the email is taken. */
  async create(data: NewUser): Promise<User> {
    const result = await this.users
      .createQueryBuilder()
      .insert()
      .values(data)
      .returning(['id', 'email', 'displayName', 'createdAt', 'updatedAt'])
      .execute();
    return result.generatedMaps[0] as User;
  }

  /** The caller's user; null when the session is not live (or the user gone). */
  async findCaller(caller: Caller): Promise<AuthUser | null> {
    const [user] = await this.sql.rows(SQL.findCaller, caller);
    return user ?? null;
  }

  /** The only read that includes the password hash: login needs it, nothing else may. */
  findWithPasswordHash(email: string): Promise<User | null> {
    return this.users.findOne({
      select: { id: true, email: true, displayName: true, createdAt: true, passwordHash: true },
      where: { email },
    });
  }

  /** The caller's password hash; null when the session is not live. */
  async passwordHashOf(caller: Caller): Promise<string | null> {
    const [row] = await this.sql.rows(SQL.passwordHash, caller);
    return row?.passwordHash ?? null;
  }

  /** Whether the caller was deleted (false: the session is not live). */
  async delete(caller: Caller): Promise<boolean> {
    return (await this.sql.rows(SQL.delete, caller)).length > 0;
  }
}
