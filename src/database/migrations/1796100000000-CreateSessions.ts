import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Sessions (one per sign-in) and the login rate-limit counters every instance shares.
 *
 * A refresh token is `<session id>.<generation>.<secret>.<mac>` (src/auth/refresh-tokens.ts):
 * only SHA-256 hashes of the secrets of the current token and of the one it replaced are kept
 * (the latter with `rotated_at`, for the 10-second grace); an older token is recognised by its
 * MAC and generation, so a reuse of it still revokes the session. No token is ever stored.
 * `access_expires_at` is the expiry of the newest access token issued for the session: a revoked
 * session stays in every instance's revocation set until then, and no longer.
 */
export class CreateSessions1796100000000 implements MigrationInterface {
  name = 'CreateSessions1796100000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "sessions" (
        "id" uuid NOT NULL,
        "user_id" uuid NOT NULL,
        "generation" integer NOT NULL DEFAULT 0,
        "token_hash" bytea NOT NULL,
        "previous_token_hash" bytea,
        "rotated_at" TIMESTAMP(3) WITH TIME ZONE,
        "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL,
        "last_used_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL,
        "idle_expires_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL,
        "expires_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL,
        "access_expires_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL,
        "revoked_at" TIMESTAMP(3) WITH TIME ZONE,
        "revoked_reason" character varying(32),
        "user_agent" character varying(512),
        CONSTRAINT "pk_sessions" PRIMARY KEY ("id"),
        CONSTRAINT "fk_sessions_user" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE,
        CONSTRAINT "ck_sessions_revoked_reason" CHECK (("revoked_at" IS NULL) = ("revoked_reason" IS NULL))
      )`);
    // The session list and "revoke all others": a user's live sessions, newest first.
    await queryRunner.query(
      `CREATE INDEX "ix_sessions_user_live" ON "sessions" ("user_id", "created_at", "id") WHERE "revoked_at" IS NULL`,
    );
    // A starting instance loads the revoked sessions whose access tokens may still be valid.
    await queryRunner.query(
      `CREATE INDEX "ix_sessions_revoked_access" ON "sessions" ("access_expires_at") WHERE "revoked_at" IS NOT NULL`,
    );
    // The purge of ended sessions.
    await queryRunner.query(`CREATE INDEX "ix_sessions_expires" ON "sessions" ("expires_at")`);

    await queryRunner.query(`
      CREATE TABLE "rate_limits" (
        "key" character varying(128) NOT NULL,
        "hits" integer NOT NULL,
        "expires_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL,
        CONSTRAINT "pk_rate_limits" PRIMARY KEY ("key")
      )`);
    await queryRunner.query(
      `CREATE INDEX "ix_rate_limits_expires" ON "rate_limits" ("expires_at")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "rate_limits"`);
    await queryRunner.query(`DROP TABLE "sessions"`);
  }
}
