import type { Channel, PgPubSub } from '../database/pg-pubsub';
import { SESSIONS_REVOKED } from './auth-channels';
import { RevokedSessions } from './revoked-sessions';
import type { SessionsRepository } from './sessions.repository';

type Entries = [string, number][];

/** What PgPubSub's listening connection would do, driven by the test. */
interface FakeListener {
  message(entries: Entries): void;
  lost(): void;
  reconnected(): Promise<void>;
}

describe('RevokedSessions', () => {
  const later = () => Date.now() + 60_000;
  let subscriber: FakeListener;
  let stored: { id: string; accessExpiresAtMs: number }[];
  let revoked: RevokedSessions;

  beforeEach(async () => {
    stored = [{ id: 'loaded', accessExpiresAtMs: later() }];
    let handler: (entries: Entries) => void = () => undefined;
    let onLost: () => void = () => undefined;
    let onReconnect: () => void = () => undefined;
    const pubsub = {
      subscribe: (channel: Channel<Entries>, h: (entries: Entries) => void) => {
        expect(channel.name).toBe(SESSIONS_REVOKED.name);
        handler = h;
        return Promise.resolve(() => undefined);
      },
      onLost: (h: () => void) => ((onLost = h), () => undefined),
      onReconnect: (h: () => void) => ((onReconnect = h), () => undefined),
    } as unknown as PgPubSub;
    subscriber = {
      message: (entries) => handler(entries),
      lost: () => onLost(),
      reconnected: async () => {
        onReconnect();
        // The reload is a promise of its own: let it run.
        await new Promise((resolve) => setImmediate(resolve));
      },
    };
    const sessions = {
      loadRevoked: () => Promise.resolve(stored),
    } as unknown as SessionsRepository;
    revoked = new RevokedSessions(pubsub, sessions);
    await revoked.onModuleInit();
  });
  afterEach(() => revoked.onModuleDestroy());

  it('knows at start-up what the database says is revoked', () => {
    expect(revoked.isRevoked('loaded')).toBe(true);
    expect(revoked.isRevoked('other')).toBe(false);
  });

  it('learns revocations from notices, and forgets them once their tokens have expired', () => {
    subscriber.message([
      ['a', later()],
      ['b', Date.now() - 1],
    ]);
    expect(revoked.isRevoked('a')).toBe(true);
    expect(revoked.isRevoked('b')).toBe(false);
  });

  it('says "unknown" while the LISTEN connection is lost, and reloads when it is back', async () => {
    subscriber.lost();
    expect(revoked.isRevoked('other')).toBeUndefined();
    expect(revoked.isRevoked('loaded')).toBe(true);
    stored = [{ id: 'missed', accessExpiresAtMs: later() }];
    await subscriber.reconnected();
    expect(revoked.isRevoked('missed')).toBe(true);
    expect(revoked.isRevoked('other')).toBe(false);
  });

  it('noticeOf resolves when the notice arrives, or at once when it already has', async () => {
    let done = false;
    const waiting = revoked.noticeOf(['x', 'y']).then(() => (done = true));
    subscriber.message([['x', later()]]);
    await Promise.resolve();
    expect(done).toBe(false);
    subscriber.message([['y', later()]]);
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
