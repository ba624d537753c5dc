import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The open event streams of every instance, for the per-user and per-session caps
 * (EVENT_STREAMS_PER_USER, EVENT_STREAMS_PER_SESSION). A row lives while its stream is open;
 * `instance_key` is the instance's lease (src/database/instance-lease.ts), so the rows of an
 * instance that died are told apart and swept.
 *
 * event_stream_open() is the open in one statement: a function, because each statement in it
 * takes a fresh snapshot in READ COMMITTED, so the count made after the user's lock sees every
 * open committed before (one statement taking the lock would count from a snapshot taken
 * before it waited). Only when the caps are reached are the rows of dead instances left out
 * (pg_locks is read then only). 1128808788 is LEASE_CLASS; 1163285332 ("EVST") keys the
 * per-user lock. Answers null (opened), 'session' or 'user' (the cap reached).
 */
export class CreateEventStreams1796420000000 implements MigrationInterface {
  name = 'CreateEventStreams1796420000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "event_streams" (
        "id" uuid NOT NULL,
        "user_id" uuid NOT NULL,
        "session_id" uuid NOT NULL,
        "instance_key" integer NOT NULL,
        "opened_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "pk_event_streams" PRIMARY KEY ("id"),
        CONSTRAINT "fk_event_streams_user" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE
      )`);
    // The count of one user's streams, and of one session's among them.
    await queryRunner.query(
      `CREATE INDEX "ix_event_streams_user_session" ON "event_streams" ("user_id", "session_id")`,
    );
    // The start-up cleanup of an instance's rows.
    await queryRunner.query(
      `CREATE INDEX "ix_event_streams_instance" ON "event_streams" ("instance_key")`,
    );
    await queryRunner.query(`
      CREATE FUNCTION "event_stream_open"(p_id uuid, p_user uuid, p_session uuid,
        p_instance integer, p_per_user integer, p_per_session integer)
      RETURNS text LANGUAGE plpgsql AS $$
      DECLARE
        n_user integer;
        n_session integer;
      BEGIN
        PERFORM pg_advisory_xact_lock(1163285332, hashtext(p_user::text));
        SELECT count(*), count(*) FILTER (WHERE e.session_id = p_session)
          INTO n_user, n_session
          FROM event_streams e WHERE e.user_id = p_user;
        IF n_user >= p_per_user OR n_session >= p_per_session THEN
          SELECT count(*), count(*) FILTER (WHERE e.session_id = p_session)
            INTO n_user, n_session
            FROM event_streams e
            WHERE e.user_id = p_user AND (e.instance_key = p_instance OR EXISTS (
              SELECT 1 FROM pg_locks l
              WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND l.classid = 1128808788::oid AND l.objid = e.instance_key::oid));
          IF n_session >= p_per_session THEN RETURN 'session'; END IF;
          IF n_user >= p_per_user THEN RETURN 'user'; END IF;
        END IF;
        INSERT INTO event_streams (id, user_id, session_id, instance_key)
          VALUES (p_id, p_user, p_session, p_instance);
        RETURN NULL;
      END $$`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `DROP FUNCTION "event_stream_open"(uuid, uuid, uuid, integer, integer, integer)`,
    );
    await queryRunner.query(`DROP TABLE "event_streams"`);
  }
}
