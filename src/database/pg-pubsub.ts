import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Client } from 'pg';
import type { AppConfig } from '../config/configuration';
import { Sql } from './sql.service';
import { statement } from './statement';
import { pgConnectionOptions } from './typeorm-options';

/** A named channel whose payloads are T (JSON, under PostgreSQL's 8,000-byte NOTIFY limit). */
export interface Channel<T> {
  readonly name: string;
  /** Only carries T for the type checker. */
  readonly payload?: T;
}

export const channel = <T>(name: string): Channel<T> => ({ name });

export type Unsubscribe = () => void;

const NOTIFY = statement<{ channel: string; payload: string }, never>(
  'pubsub.notify',
  (p) => `SELECT pg_notify(${p.channel}, ${p.payload})`,
);
const RECONNECT_MS = 1000;

/**
 * Signals between the instances of the service, through PostgreSQL LISTEN/NOTIFY: one
 * dedicated connection listens for every channel somebody subscribed to; publishing is a
 * statement like any other. Notifications sent while the connection was down are lost:
 * subscribers are told (onReconnect) so they can re-read what they follow. A Redis
 * implementation of the same API could replace it without touching features.
 */
@Injectable()
export class PgPubSub implements OnApplicationShutdown {
  private readonly logger = new Logger('PubSub');
  private readonly handlers = new Map<string, Set<(payload: unknown) => void>>();
  private readonly reconnectHandlers = new Set<() => void>();
  private readonly lostHandlers = new Set<() => void>();
  private client: Client | null = null;
  private connecting: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly sql: Sql,
    private readonly config: ConfigService<AppConfig, true>,
  ) {}

  async publish<T>(ch: Channel<T>, payload: T): Promise<void> {
    await this.sql.rows(NOTIFY, { channel: ch.name, payload: JSON.stringify(payload) });
  }

  /** Resolves once the channel is listened to: what is published after that arrives. */
  async subscribe<T>(ch: Channel<T>, handler: (payload: T) => void): Promise<Unsubscribe> {
    let set = this.handlers.get(ch.name);
    const fresh = !set;
    if (!set) this.handlers.set(ch.name, (set = new Set()));
    const entry = handler as (payload: unknown) => void;
    set.add(entry);
    await this.connect();
    if (fresh) await this.client?.query(`LISTEN ${quoteIdent(ch.name)}`);
    return () => {
      set.delete(entry);
    };
  }

  /** Called after the listening connection came back: notifications may have been missed. */
  onReconnect(handler: () => void): Unsubscribe {
    this.reconnectHandlers.add(handler);
    return () => this.reconnectHandlers.delete(handler);
  }

  /** Called when the listening connection is lost: until the next reconnect, notices may be missed. */
  onLost(handler: () => void): Unsubscribe {
    this.lostHandlers.add(handler);
    return () => this.lostHandlers.delete(handler);
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  private connect(): Promise<void> {
    if (this.client || this.closed) return Promise.resolve();
    this.connecting ??= this.open().finally(() => (this.connecting = null));
    return this.connecting;
  }

  private async open(): Promise<void> {
    const db = this.config.get('database', { infer: true });
    // No statement timeout on a connection that only waits.
    const client = new Client({
      ...pgConnectionOptions(db),
      statement_timeout: 0,
      query_timeout: 0,
    });
    client.on('notification', (message) => {
      const set = this.handlers.get(message.channel);
      if (!set || message.payload === undefined) return;
      let payload: unknown;
      try {
        payload = JSON.parse(message.payload);
      } catch {
        return;
      }
      for (const handler of set) handler(payload);
    });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    await client.connect();
    for (const name of this.handlers.keys()) await client.query(`LISTEN ${quoteIdent(name)}`);
    this.client = client;
  }

  private lost(client: Client): void {
    if (this.client !== client) return;
    this.client = null;
    if (this.closed) return;
    this.logger.warn('Listening connection lost: reconnecting');
    this.lostHandlers.forEach((handler) => handler());
    const retry = () => {
      if (this.closed) return;
      this.connect().then(
        () => this.reconnectHandlers.forEach((handler) => handler()),
        () => setTimeout(retry, RECONNECT_MS).unref(),
      );
    };
    setTimeout(retry, RECONNECT_MS).unref();
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
