import { ConflictException, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { QueryFailedError, Repository } from 'typeorm';
import { User } from './entities/user.entity';

export interface NewUser {
  email: string;
  passwordHash: string;
  displayName: string | null;
}

@Injectable()
export class UsersService {
  constructor(@InjectRepository(User) private readonly users: Repository<User>) {}

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

  findById(id: string): Promise<User | null> {
    return this.users.findOne({
      select: { id: true, email: true, displayName: true, createdAt: true },
      where: { id },
    });
  }

  /** The only read that includes the password hash: login needs it, nothing else may. */
  findWithPasswordHash(email: string): Promise<User | null> {
    return this.users.findOne({
      select: { id: true, email: true, displayName: true, createdAt: true, passwordHash: true },
      where: { email },
    });
  }

  /** Deletes the user; their rooms and messages go with them (ON DELETE CASCADE). */
  async remove(id: string): Promise<boolean> {
    const result = await this.users.delete({ id });
    return (result.affected ?? 0) > 0;
  }
}
