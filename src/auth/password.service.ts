import { Injectable, OnModuleInit } from '@nestjs/common';
import * as argon2 from 'argon2';

/**
 * argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): slow enough against
 * offline guessing, light enough that 32 concurrent logins do not need gigabytes.
 * https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html
 */
const OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

@Injectable()
export class PasswordService implements OnModuleInit {
  /** Verified against when the e-mail is unknown, so both failures cost the same time. */
  private dummyHash: string;

  async onModuleInit(): Promise<void> {
    this.dummyHash = await argon2.hash('not-a-real-password-only-equalises-timing', OPTIONS);
  }

  hash(password: string): Promise<string> {
    return argon2.hash(password, OPTIONS);
  }

  /** `hash` null means "no such user": still does the full verification, then says no. */
  async verify(hash: string | null, password: string): Promise<boolean> {
    const ok = await argon2.verify(hash ?? this.dummyHash, password).catch(() => false);
    return ok && hash !== null;
  }
}
