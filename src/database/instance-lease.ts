import { randomInt } from 'node:crypto';
import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Client } from 'pg';
import type { AppConfig } from '../config/configuration';
import { pgConnectionOptions } from './typeorm-options';
import { InstanceLeaseRepository } from './instance-lease.repository';

const RECONNECT_MS = 1000;

/**
 * This instance's liveness as PostgreSQL sees it: a session-level advisory lock
 * (LEASE_CLASS, key) held on a connection of its own. Generations record the key of the
 * instance that runs them; when the process dies its session ends and the lock is released at
 * once, so any instance can tell a dead owner's generations (pg_locks) without heartbeats.
 */
@Injectable()
export class InstanceLease implements OnApplicationShutdown {
  private readonly logger = new Logger('InstanceLease');
  private client: Client | null = null;
  private closed = false;
  /** 1..2^31-1, so it fits pg_locks.objid; another live instance never holds the same. */
  key = 0;

  constructor(
    private readonly config: ConfigService<AppConfig, true>,
    private readonly leases: InstanceLeaseRepository,
  ) {}

  private acquiring: Promise<void> | null = null;

  /**
   * Takes a lease for this instance, once: every feature that records who runs its work
   * (generations, imports) calls it before it starts; later calls wait for the first.
   */
  acquire(): Promise<void> {
    this.acquiring ??= this.take().catch((error: unknown) => {
      this.acquiring = null;
      throw error;
    });
    return this.acquiring;
  }

  private async take(): Promise<void> {
    const db = this.config.get('database', { infer: true });
    const client = new Client({
      ...pgConnectionOptions(db),
      statement_timeout: 0,
      query_timeout: 0,
    });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    await client.connect();
    for (;;) {
      const key = this.key || randomInt(1, 2 ** 31 - 1);
      if (await this.leases.take(client, { key })) {
        this.key = key;
        break;
      }
      this.key = 0; // taken (by another instance): draw again
    }
    this.client = client;
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    await this.client?.end().catch(() => undefined);
    this.client = null;
  }

  private lost(client: Client): void {
    if (this.client !== client) return;
    this.client = null;
    if (this.closed) return;
    // Until it is back, other instances may take this instance's generations as orphans:
    // their next flush notices (the row is no longer streaming) and stops them.
    this.logger.warn('Lease connection lost: reconnecting');
    const retry = () => {
      if (this.closed) return;
      this.take().catch(() => setTimeout(retry, RECONNECT_MS).unref());
    };
    setTimeout(retry, RECONNECT_MS).unref();
  }
}
