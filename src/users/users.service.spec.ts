import type { UsersRepository } from './users.repository';
import { UsersService } from './users.service';

const rolledBack = (code: string) => Object.assign(new Error('rolled back'), { code });

describe('UsersService.remove', () => {
  const withDelete = (results: unknown[]) => {
    const remove = jest.fn(() => {
      const next = results.shift();
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    });
    const service = new UsersService({ delete: remove } as unknown as UsersRepository);
    return { service, remove };
  };

  it('runs the deletion again when PostgreSQL rolled it back to end a deadlock', async () => {
    const { service, remove } = withDelete([rolledBack('40P01'), rolledBack('40001'), true]);
    await expect(service.remove({ id: 'u', sessionId: 's' })).resolves.toBeUndefined();
    expect(remove).toHaveBeenCalledTimes(3);
  });

  it('gives up after three attempts, and at once on any other error', async () => {
    const three = withDelete([rolledBack('40P01'), rolledBack('40P01'), rolledBack('40P01'), true]);
    await expect(three.service.remove({ id: 'u', sessionId: 's' })).rejects.toMatchObject({
      code: '40P01',
    });
    expect(three.remove).toHaveBeenCalledTimes(3);
    const other = withDelete([rolledBack('57014'), true]);
    await expect(other.service.remove({ id: 'u', sessionId: 's' })).rejects.toMatchObject({
      code: '57014',
    });
    expect(other.remove).toHaveBeenCalledTimes(1);
  });
});
