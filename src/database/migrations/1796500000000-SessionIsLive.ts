import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The one check that an access token's session is live: not revoked, and its user still there
 * (a deleted user's sessions are deleted with them). Every route's first statement calls it as
 * `(SELECT session_is_live(session, user))`, an init plan run once per statement, so a revoked
 * session's tokens are refused by the statement the route runs anyway, on every instance, from
 * the revocation's commit on.
 */
export class SessionIsLive1796500000000 implements MigrationInterface {
  name = 'SessionIsLive1796500000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE FUNCTION "session_is_live"(p_session uuid, p_user uuid) RETURNS boolean
      LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT EXISTS (
          SELECT 1 FROM sessions s
          WHERE s.id = p_session AND s.user_id = p_user AND s.revoked_at IS NULL)
      $$`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP FUNCTION "session_is_live"(uuid, uuid)`);
  }
}
