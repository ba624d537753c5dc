import { ConflictException, UnprocessableEntityException } from '@nestjs/common';
import type { ConfigService } from '@nestjs/config';
import type { FastifyReply } from 'fastify';
import type { AppConfig } from '../config/configuration';
import type { Sql, SqlRunner } from '../database/sql.service';
import type { Statement } from '../database/statement';
import { IdempotencyKeysRepository, SQL } from './idempotency-keys.repository';
import { IdempotencyService } from './idempotency.service';
import type { IdempotentRequest } from './idempotent-request.decorator';

/** The service's decisions, with PostgreSQL replaced by the claim row it would return. */
describe('IdempotencyService.run', () => {
  const fingerprint = Buffer.from('fingerprint');
  let events: string[];
  let claimRow: Record<string, unknown>;
  let reply: { statusCode: number; sent: Record<string, string>; status: jest.Mock };

  const tx = {
    rows: (statement: Statement, params: Record<string, unknown>) => {
      events.push(`tx ${statement.id}`);
      if (statement === SQL.complete) {
        const { status, headers, body } = params;
        events.push(`stored ${JSON.stringify([status, headers, body])}`);
      }
      return Promise.resolve(statement === SQL.claim ? [claimRow] : []);
    },
  } as unknown as SqlRunner;
  const sql = {
    rows: () => Promise.resolve([]),
    transaction: async <T>(work: (runner: SqlRunner) => Promise<T>) => {
      events.push('BEGIN');
      try {
        const result = await work(tx);
        events.push('COMMIT');
        return result;
      } catch (error) {
        events.push('ROLLBACK');
        throw error;
      }
    },
  };
  const config = { get: () => 86400 } as unknown as ConfigService<AppConfig, true>;
  const service = new IdempotencyService(
    sql as unknown as Sql,
    new IdempotencyKeysRepository(sql as unknown as Sql),
    config,
  );

  beforeEach(() => {
    events = [];
    claimRow = { free: true, claimed: true };
    reply = { statusCode: 201, sent: {}, status: jest.fn() };
    reply.status.mockImplementation((code: number) => {
      reply.statusCode = code;
      return reply;
    });
    Object.assign(reply, {
      headers: (headers: Record<string, string>) => Object.assign(reply.sent, headers) && reply,
      header: (name: string, value: string) => ((reply.sent[name] = value), reply),
    });
  });

  const request = (key: string | null): IdempotentRequest => ({
    key,
    fingerprint: key === null ? null : fingerprint,
    reply: reply as unknown as FastifyReply,
  });
  const work = (db: SqlRunner) => {
    events.push(db === tx ? 'work in tx' : 'work alone');
    return Promise.resolve({ id: 'r1' });
  };
  const options = {
    headers: (result: { id: string }) => ({ location: `/things/${result.id}` }),
    afterCommit: () => events.push('afterCommit'),
  };

  it('without a key: the work alone, no transaction', async () => {
    await expect(service.run('u', request(null), work, options)).resolves.toEqual({ id: 'r1' });
    expect(events).toEqual(['work alone', 'afterCommit']);
    expect(reply.sent).toEqual({ location: '/things/r1' });
  });

  it('without a key, with options.transaction: the work in a transaction of its own', async () => {
    await service.run('u', request(null), work, { ...options, transaction: true });
    expect(events).toEqual(['BEGIN', 'work in tx', 'COMMIT', 'afterCommit']);
  });

  it('a new key: claim, work and answer in one transaction; afterCommit after COMMIT', async () => {
    await expect(service.run('u', request('k'), work, options)).resolves.toEqual({ id: 'r1' });
    expect(events).toEqual([
      'BEGIN',
      'tx idempotencyKeys.claim',
      'work in tx',
      'tx idempotencyKeys.complete',
      'stored [201,"{\\"location\\":\\"/things/r1\\"}","{\\"id\\":\\"r1\\"}"]',
      'COMMIT',
      'afterCommit',
    ]);
  });

  it('a stored answer: replayed with its status and headers; no work, no afterCommit', async () => {
    claimRow = {
      free: true,
      claimed: false,
      fingerprint,
      status: 202,
      headers: { location: '/things/r0' },
      body: { id: 'r0' },
    };
    await expect(service.run('u', request('k'), work, options)).resolves.toEqual({ id: 'r0' });
    expect(events).toEqual(['BEGIN', 'tx idempotencyKeys.claim', 'COMMIT']);
    expect(reply.status).toHaveBeenCalledWith(202);
    expect(reply.sent).toEqual({ location: '/things/r0', 'idempotent-replayed': 'true' });
  });

  it('another request with the key: 422, rolled back', async () => {
    claimRow = { free: true, claimed: false, fingerprint: Buffer.from('other'), status: 201 };
    await expect(service.run('u', request('k'), work, options)).rejects.toBeInstanceOf(
      UnprocessableEntityException,
    );
    expect(events).toEqual(['BEGIN', 'tx idempotencyKeys.claim', 'ROLLBACK']);
  });

  it('the key is held by another transaction: 409 with Retry-After', async () => {
    claimRow = { free: false, claimed: false };
    const refused = service.run('u', request('k'), work, options);
    await expect(refused).rejects.toBeInstanceOf(ConflictException);
    // The exception filter sends it as the Retry-After header.
    await expect(refused).rejects.toMatchObject({ retryAfterSeconds: 1 });
    expect(events).toEqual(['BEGIN', 'tx idempotencyKeys.claim', 'ROLLBACK']);
  });

  it('work that fails: rolled back, nothing stored, no afterCommit', async () => {
    const failing = () => Promise.reject(new Error('404'));
    await expect(service.run('u', request('k'), failing, options)).rejects.toThrow('404');
    expect(events).toEqual(['BEGIN', 'tx idempotencyKeys.claim', 'ROLLBACK']);
  });
});
