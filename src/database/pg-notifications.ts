import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Client } from 'pg';
import type { AppConfig } from '../config/configuration';
import { pgConnectionOptions } from './typeorm-options';

export interface Subscriber {
  /** A notification on the channel. */
  message(payload: string): void;
  /**
   * The channel is listened to (at start and after every reconnect): notifications may have
   * been missed before this, so reload what they keep up to date.
   */
  ready(): Promise<void>;
  /** The connection is lost: until the next ready(), notifications may be missed. */
  lost(): void;
}

/**
 * PostgreSQL LISTEN on one dedicated connection, shared by every channel of the process.
 * Features send their notifications with pg_notify() inside the statement that makes the change,
 * so the notice goes out exactly when the change commits. Reconnects after a loss.
 */
@Injectable()
export class PgNotifications implements OnModuleDestroy {
  private readonly subscribers = new Map<string, Subscriber>();
  private readonly logger = new Logger('Notifications');
  private client: Client | undefined;
  private connecting: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly config: ConfigService<AppConfig, true>) {}

  /** Resolves once the channel is listened to and its subscriber is ready (or the first try failed). */
  async subscribe(channel: string, subscriber: Subscriber): Promise<void> {
    if (!/^[a-z_]+$/.test(channel)) throw new Error(`Bad channel name: ${channel}`);
    this.subscribers.set(channel, subscriber);
    if (this.client) {
      await this.client.query(`LISTEN ${channel}`);
      await subscriber.ready();
    } else {
      await this.connect();
    }
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    await this.connecting?.catch(() => undefined);
    await this.client?.end().catch(() => undefined);
  }

  private connect(): Promise<void> {
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async open(): Promise<void> {
    const client = new Client(pgConnectionOptions(this.config.get('database', { infer: true })));
    let lost = false;
    const onLost = (error?: Error) => {
      if (lost) return;
      lost = true;
      if (this.client === client) this.client = undefined;
      void client.end().catch(() => undefined);
      if (this.closed) return;
      if (error) this.logger.warn(`LISTEN connection lost: ${error.name}`);
      for (const subscriber of this.subscribers.values()) subscriber.lost();
      this.scheduleRetry();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (n) => this.subscribers.get(n.channel)?.message(n.payload ?? ''));
    try {
      await client.connect();
      for (const channel of this.subscribers.keys()) await client.query(`LISTEN ${channel}`);
      this.client = client;
      for (const subscriber of this.subscribers.values()) await subscriber.ready();
    } catch (error) {
      onLost(error as Error);
    }
  }

  private scheduleRetry(): void {
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.connect(), 1000);
    this.retry.unref();
  }
}
