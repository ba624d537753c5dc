import { Injectable } from '@nestjs/common';
import { DatabaseError } from 'pg';
import { Sql } from '../database/sql.service';
import { statement } from '../database/statement';
import { LIVE_LEASES } from '../database/instance-lease.repository';

/** Which cap refused a stream, or that its user is gone; null: its row is inserted. */
export type StreamRefusal = 'session' | 'user' | 'unauthorized' | null;

const SQL = {
  // Insert if under both caps, the user's opens serialised on every instance (see the
  // migration CreateEventStreams).
  open: statement<
    {
      id: string;
      userId: string;
      sessionId: string;
      instanceKey: number;
      perUser: number;
      perSession: number;
    },
    { refused: 'session' | 'user' | null }
  >(
    'eventStreams.open',
    (p) =>
      `SELECT event_stream_open(${p.id}, ${p.userId}, ${p.sessionId}, ${p.instanceKey},
         ${p.perUser}, ${p.perSession}) AS refused`,
  ),

  close: statement<{ id: string }>(
    'eventStreams.close',
    (p) => `DELETE FROM event_streams WHERE id = ${p.id}`,
  ),

  // The rows of dead instances (they no longer count anyway), and with `own` this instance's
  // own: at start-up any row with its key is from an earlier process that held the same key.
  sweep: statement<{ instanceKey: number; own: boolean }>(
    'eventStreams.sweep',
    (p) => `
    WITH live AS MATERIALIZED (
      ${LIVE_LEASES}
    )
    DELETE FROM event_streams e
    WHERE CASE WHEN e.instance_key = ${p.instanceKey} THEN ${p.own}::boolean
          ELSE NOT EXISTS (SELECT 1 FROM live WHERE live.objid = e.instance_key::oid) END`,
  ),
};

/** The rows of open event streams (`event_streams`): one per stream, on any instance. */
@Injectable()
export class EventStreamsRepository {
  constructor(private readonly sql: Sql) {}

  /** The row of a new stream, unless a cap refuses it or its user was deleted meanwhile. */
  async open(params: {
    id: string;
    userId: string;
    sessionId: string;
    instanceKey: number;
    perUser: number;
    perSession: number;
  }): Promise<StreamRefusal> {
    try {
      const [{ refused }] = await this.sql.rows(SQL.open, params);
      return refused;
    } catch (error) {
      if (error instanceof DatabaseError && error.code === '23503') return 'unauthorized';
      throw error;
    }
  }

  async close(params: { id: string }): Promise<void> {
    await this.sql.rows(SQL.close, params);
  }

  /** Deletes the rows of dead instances; with `own`, also this instance's. */
  async sweep(params: { instanceKey: number; own: boolean }): Promise<void> {
    await this.sql.rows(SQL.sweep, params);
  }
}
