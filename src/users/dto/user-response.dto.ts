import type { User } from '../entities/user.entity';

export class UserResponseDto {
  /** @example "0b8f7e5c-2f7a-4d2e-9c43-5d2f3c9e8a11" */
  id: string;
  /** Normalised (trimmed, lower-case). @example "ada@example.com" */
  email: string;
  /** @example "Ada" */
  displayName: string | null;
  /** @example "2026-01-31T12:00:00.000Z" */
  createdAt: Date;

  static from(user: Pick<User, 'id' | 'email' | 'displayName' | 'createdAt'>): UserResponseDto {
    return {
      id: user.id,
      email: user.email,
      displayName: user.displayName,
      createdAt: user.createdAt,
    };
  }
}
