import type { PgNotifications, Subscriber } from '../database/pg-notifications';
import type { Sql } from '../database/sql.service';
import { RevokedSessions, SESSIONS_REVOKED_CHANNEL } from './revoked-sessions';

describe('RevokedSessions', () => {
  const later = () => Date.now() + 60_000;
  let subscriber: Subscriber;
  let stored: { id: string; accessExpiresAtMs: number }[];
  let revoked: RevokedSessions;

  beforeEach(async () => {
    stored = [{ id: 'loaded', accessExpiresAtMs: later() }];
    const notifications = {
      subscribe: async (channel: string, s: Subscriber) => {
        expect(channel).toBe(SESSIONS_REVOKED_CHANNEL);
        subscriber = s;
        await s.ready();
      },
    } as unknown as PgNotifications;
    const sql = { rows: async () => stored } as unknown as Sql;
    revoked = new RevokedSessions(notifications, sql);
    await revoked.onModuleInit();
  });
  afterEach(() => revoked.onModuleDestroy());

  it('knows at start-up what the database says is revoked', () => {
    expect(revoked.isRevoked('loaded')).toBe(true);
    expect(revoked.isRevoked('other')).toBe(false);
  });

  it('learns revocations from notices, and forgets them once their tokens have expired', () => {
    subscriber.message(`a:${later()},b:${Date.now() - 1}`);
    expect(revoked.isRevoked('a')).toBe(true);
    expect(revoked.isRevoked('b')).toBe(false);
  });

  it('says "unknown" while the LISTEN connection is lost, and reloads when it is back', async () => {
    subscriber.lost();
    expect(revoked.isRevoked('other')).toBeUndefined();
    expect(revoked.isRevoked('loaded')).toBe(true);
    stored = [{ id: 'missed', accessExpiresAtMs: later() }];
    await subscriber.ready();
    expect(revoked.isRevoked('missed')).toBe(true);
    expect(revoked.isRevoked('other')).toBe(false);
  });

  it('noticeOf resolves when the notice arrives, or at once when it already has', async () => {
    let done = false;
    const waiting = revoked.noticeOf(['x', 'y']).then(() => (done = true));
    subscriber.message(`x:${later()}`);
    await Promise.resolve();
    expect(done).toBe(false);
    subscriber.message(`y:${later()}`);
    await waiting;
    expect(done).toBe(true);
    await revoked.noticeOf(['x']); // heard before: no wait
  });

  it('noticeOf gives up after its timeout', async () => {
    const started = Date.now();
    await revoked.noticeOf(['never'], 50);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });
});
