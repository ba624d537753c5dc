import { Injectable } from '@nestjs/common';
import type { ClientBase } from 'pg';
import { queryConfig, statement } from './statement';

/** The first key of the two-key advisory locks that mark live instances ("CHAT"). */
export const LEASE_CLASS = 0x43484154;

/** SQL: the keys (as `l.objid`) of the instances alive now, those holding their lease here. */
export const LIVE_LEASES = `SELECT l.objid FROM pg_locks l
  WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND l.classid = ${LEASE_CLASS}::oid`;

/** SQL: the instance whose key is `key` (an SQL expression) is alive. */
export const instanceAlive = (key: string): string =>
  `EXISTS (${LIVE_LEASES} AND l.objid = ${key}::oid)`;

const SQL = {
  // Session-level: held until the lease's connection ends, whatever it runs meanwhile.
  take: statement<{ key: number }, { locked: boolean }>(
    'instanceLease.take',
    (p) => `SELECT pg_try_advisory_lock(${LEASE_CLASS}, ${p.key}) AS locked`,
  ),
};

/** The SQL of instance leases (see InstanceLease), run on the lease's own connection. */
@Injectable()
export class InstanceLeaseRepository {
  /** Takes the lease `key` for `session`; false when another session holds it. */
  async take(session: ClientBase, params: { key: number }): Promise<boolean> {
    const { rows } = await session.query<{ locked: boolean }>(queryConfig(SQL.take, params));
    return rows[0].locked;
  }
}
