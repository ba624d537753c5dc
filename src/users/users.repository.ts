import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import type { AuthUser } from '../auth/auth-user';
import { Sql } from '../database/sql.service';
import { statement } from '../database/statement';
import { User } from './entities/user.entity';

export interface NewUser {
  email: string;
  passwordHash: string;
  displayName: string | null;
}

export const SQL = {
  findById: statement<{ id: string }, AuthUser>(
    'users.findById',
    (p) => `
      SELECT id, email, display_name AS "displayName", created_at AS "createdAt"
      FROM users WHERE id = ${p.id}`,
  ),

  passwordHash: statement<{ id: string }, { passwordHash: string }>(
    'users.passwordHash',
    (p) => `SELECT password_hash AS "passwordHash" FROM users WHERE id = ${p.id}`,
  ),

  // Their rooms, messages and sessions go with them (ON DELETE CASCADE).
  delete: statement<{ id: string }, { id: string }>(
    'users.delete',
    (p) => `DELETE FROM users WHERE id = ${p.id} RETURNING id`,
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

  async findById(id: string): Promise<AuthUser | null> {
    const [user] = await this.sql.rows(SQL.findById, { id });
    return user ?? null;
  }

  /** The only read that includes the password hash: login needs it, nothing else may. */
  findWithPasswordHash(email: string): Promise<User | null> {
    return this.users.findOne({
      select: { id: true, email: true, displayName: true, createdAt: true, passwordHash: true },
      where: { email },
    });
  }

  async passwordHashOf(id: string): Promise<string | null> {
    const [row] = await this.sql.rows(SQL.passwordHash, { id });
    return row?.passwordHash ?? null;
  }

  async delete(id: string): Promise<void> {
    await this.sql.rows(SQL.delete, { id });
  }
}
