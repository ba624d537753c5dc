import * as argon2 from 'argon2';
import { PasswordService } from './password.service';

jest.mock('argon2', () => {
  const actual = jest.requireActual<typeof argon2>('argon2');
  return { ...actual, verify: jest.fn(actual.verify) };
});

describe('PasswordService', () => {
  const service = new PasswordService();
  beforeAll(() => service.onModuleInit());

  it('hashes with argon2id and a per-hash salt', async () => {
    const [a, b] = await Promise.all([service.hash('password-123'), service.hash('password-123')]);
    expect(a).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    expect(a).not.toBe(b);
  });

  it('verifies the right password only', async () => {
    const hash = await service.hash('password-123');
    await expect(service.verify(hash, 'password-123')).resolves.toBe(true);
    await expect(service.verify(hash, 'password-124')).resolves.toBe(false);
  });

  it('still runs a full argon2 verification for an unknown user, and says no', async () => {
    const verify = jest.mocked(argon2.verify);
    verify.mockClear();
    await expect(service.verify(null, 'not-a-real-password-only-equalises-timing')).resolves.toBe(
      false,
    );
    expect(verify).toHaveBeenCalledTimes(1);
    expect(verify.mock.calls[0][0]).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
  });

  it('treats a corrupt stored hash as a wrong password', async () => {
    await expect(service.verify('$argon2id$garbage', 'password-123')).resolves.toBe(false);
  });
});
