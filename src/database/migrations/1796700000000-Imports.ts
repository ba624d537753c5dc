import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Imports (POST /api/imports): the uploaded file as 1 MiB rows of `import_chunks`, the import
 * itself, its per-conversation report, and the source a room was imported from.
 *
 * Why chunked rows rather than large objects: each chunk is written by its own statement as the
 * body arrives (no transaction held open while a slow client uploads), a byte range is read by
 * the chunk numbers that cover it (a ZIP is read from its end, then at each entry), and deleting
 * the import deletes its chunks (large objects would need lo_unlink, and leak when it is missed).
 * STORAGE EXTERNAL: the bytes are a ZIP (already compressed) or JSON read once; compressing them
 * only costs CPU on the way in and out.
 *
 * One import per user uploading, queued or running (uq_imports_owner_active): the 429 is the
 * unique violation, race-free across instances. `runner_key` is the lease of the instance that
 * uploads or runs it (src/database/instance-lease.ts): when that instance dies, another resumes
 * the import after `next_index`, the first conversation not yet committed; `runs` counts the
 * claims, so that an import no run can finish fails instead of being retried forever.
 *
 * chat_rooms.import_source ('chatgpt:<conversation_id>' or 'room:<room id>') makes a second
 * import of the same conversation by the same user a skip: unique per owner.
 */
export class Imports1796700000000 implements MigrationInterface {
  name = 'Imports1796700000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "imports" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "owner_id" uuid NOT NULL,
        "status" character varying(16) NOT NULL,
        "format" character varying(32),
        "byte_size" bigint NOT NULL DEFAULT '0',
        "runner_key" integer,
        "next_index" integer NOT NULL DEFAULT '0',
        "runs" integer NOT NULL DEFAULT '0',
        "imported" integer NOT NULL DEFAULT '0',
        "skipped" integer NOT NULL DEFAULT '0',
        "failed" integer NOT NULL DEFAULT '0',
        "reason" text,
        "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(),
        "finished_at" TIMESTAMP(3) WITH TIME ZONE,
        CONSTRAINT "ck_imports_status" CHECK ("status" IN ('uploading', 'queued', 'running', 'complete', 'failed')),
        CONSTRAINT "pk_imports" PRIMARY KEY ("id"),
        CONSTRAINT "fk_imports_owner" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE CASCADE
      )`);
    // The caller's imports, newest first.
    await queryRunner.query(
      `CREATE INDEX "ix_imports_owner_created" ON "imports" ("owner_id", "created_at", "id")`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_imports_owner_active" ON "imports" ("owner_id") WHERE "status" IN ('uploading', 'queued', 'running')`,
    );
    // What the workers claim, oldest first.
    await queryRunner.query(
      `CREATE INDEX "ix_imports_pending" ON "imports" ("created_at", "id") WHERE "status" IN ('uploading', 'queued', 'running')`,
    );
    await queryRunner.query(`
      CREATE TABLE "import_chunks" (
        "import_id" uuid NOT NULL,
        "seq" integer NOT NULL,
        "data" bytea NOT NULL,
        CONSTRAINT "pk_import_chunks" PRIMARY KEY ("import_id", "seq"),
        CONSTRAINT "fk_import_chunks_import" FOREIGN KEY ("import_id") REFERENCES "imports"("id") ON DELETE CASCADE
      )`);
    await queryRunner.query(`ALTER TABLE "import_chunks" ALTER COLUMN "data" SET STORAGE EXTERNAL`);
    await queryRunner.query(`
      CREATE TABLE "import_items" (
        "import_id" uuid NOT NULL,
        "idx" integer NOT NULL,
        "source_id" character varying(255),
        "title" character varying(200),
        "status" character varying(16) NOT NULL,
        "chat_room_id" uuid,
        "reason" text,
        CONSTRAINT "ck_import_items_status" CHECK ("status" IN ('imported', 'skipped', 'failed')),
        CONSTRAINT "pk_import_items" PRIMARY KEY ("import_id", "idx"),
        CONSTRAINT "fk_import_items_import" FOREIGN KEY ("import_id") REFERENCES "imports"("id") ON DELETE CASCADE
      )`);
    await queryRunner.query(`ALTER TABLE "chat_rooms" ADD "import_source" character varying(300)`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_chat_rooms_owner_import_source" ON "chat_rooms" ("owner_id", "import_source") WHERE "import_source" IS NOT NULL`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "uq_chat_rooms_owner_import_source"`);
    await queryRunner.query(`ALTER TABLE "chat_rooms" DROP COLUMN "import_source"`);
    await queryRunner.query(`DROP TABLE "import_items"`);
    await queryRunner.query(`DROP TABLE "import_chunks"`);
    await queryRunner.query(`DROP TABLE "imports"`);
  }
}
