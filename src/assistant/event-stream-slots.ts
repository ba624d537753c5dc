import { randomUUID } from 'node:crypto';
import {
  HttpException,
  HttpStatus,
  Injectable,
  Logger,
  UnauthorizedException,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { TokenCaller } from '../auth/auth-user';
import type { AppConfig, EventStreamsSection } from '../config/configuration';
import { EventStreamsRepository } from './event-streams.repository';
import { InstanceLease } from '../database/instance-lease';
import { ModelCatalog } from './model-catalog';

/** What a refused stream's client is told to wait: streams close as their replies end. */
export const EVENT_STREAM_RETRY_AFTER_SECONDS = 3;

/** 429 for the caps on open event streams; AllExceptionsFilter sends its Retry-After. */
export class TooManyEventStreamsException extends HttpException {
  readonly retryAfterSeconds = EVENT_STREAM_RETRY_AFTER_SECONDS;
  constructor(message: string) {
    super(message, HttpStatus.TOO_MANY_REQUESTS);
  }
}

/**
 * The event streams open on this instance: a slot each under the caps on open streams per user
 * and per session, across instances (a row per open stream: one statement to open, one to
 * close), and their ends at shutdown (GenerationRegistry.drain). Rows whose close failed are
 * deleted again at the next sweep; rows of dead instances are not counted once a cap is
 * reached, and swept (DeadInstanceSweeper).
 */
@Injectable()
export class EventStreamSlots {
  private readonly logger = new Logger('EventStreamSlots');
  private readonly unreleased = new Set<string>();
  /** How to end each open stream at shutdown (its client resumes on another instance). */
  private readonly ends = new Set<() => void>();
  readonly limits: EventStreamsSection;

  constructor(
    private readonly streams: EventStreamsRepository,
    private readonly lease: InstanceLease,
    private readonly catalog: ModelCatalog,
    config: ConfigService<AppConfig, true>,
  ) {
    this.limits = config.get('eventStreams', { infer: true });
  }

  /** Takes a slot for a stream of the caller, or throws the 429; returns its release. */
  async open(caller: TokenCaller): Promise<() => void> {
    this.catalog.assertEnabled();
    const id = randomUUID();
    const refused = await this.streams.open({
      id,
      userId: caller.id,
      sessionId: caller.sessionId,
      instanceKey: this.lease.key,
      perUser: this.limits.perUser,
      perSession: this.limits.perSession,
    });
    // The user was deleted meanwhile.
    if (refused === 'unauthorized') throw new UnauthorizedException('Unauthorized');
    if (refused === 'session') {
      throw new TooManyEventStreamsException(
        `At most ${this.limits.perSession} event streams can be open at once per session`,
      );
    }
    if (refused === 'user') {
      throw new TooManyEventStreamsException(
        `At most ${this.limits.perUser} event streams can be open at once per user`,
      );
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(id);
    };
  }

  /** Registers an open stream's end, called at shutdown; returns its removal. */
  track(end: () => void): () => void {
    this.ends.add(end);
    return () => this.ends.delete(end);
  }

  /** Shutdown: ends every open stream. */
  endAll(): void {
    for (const end of [...this.ends]) end();
  }

  private release(id: string): void {
    this.streams.close({ id }).catch(() => this.unreleased.add(id));
  }

  /** Deletes the rows of dead instances, and those whose close failed; `own`: at start-up. */
  async sweep(own = false): Promise<void> {
    try {
      for (const id of [...this.unreleased]) {
        await this.streams.close({ id });
        this.unreleased.delete(id);
      }
      await this.streams.sweep({ instanceKey: this.lease.key, own });
    } catch (error) {
      this.logger.warn({
        msg: 'Sweep of event streams failed',
        errType: (error as Error)?.name,
      });
    }
  }
}
