import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The one check that an access token's session is live: not revoked, and its user still there
 * (a deleted user's sessions are deleted with them). Every route's first statement asks
 * `EXISTS (SELECT FROM live_session(session, user))`, so a revoked session's tokens are refused
 * by the statement the route runs anyway, on every instance, from the revocation's commit on.
 * A set-returning SQL function, STABLE and not STRICT, is inlined into the calling statement
 * (the same plan as the written-out EXISTS); a scalar one would be planned again each time.
 */
export class LiveSession1796500000000 implements MigrationInterface {
  name = 'LiveSession1796500000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE FUNCTION "live_session"(p_session uuid, p_user uuid) RETURNS SETOF uuid
      LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT s.id FROM sessions s
        WHERE s.id = p_session AND s.user_id = p_user AND s.revoked_at IS NULL
      $$`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP FUNCTION "live_session"(uuid, uuid)`);
  }
}
