import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Conversations as trees: a message's parent (in the same room: a composite foreign key), the
 * room's active message and version, and what keeps a room's reads index range scans (see
 * Message.onActivePath, chosenVersion, siblingCount).
 *
 * Existing rooms become one line each in conversation order, active at their newest message,
 * version 1. Safe on a large table: the new columns' defaults are constants (no rewrite), the
 * parents are set in one UPDATE pass, and the indexes and constraints are built after it.
 */
export class ConversationTrees1796600000000 implements MigrationInterface {
  name = 'ConversationTrees1796600000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // Every existing message is on its room's one line: on_active_path true for them, false
    // from now on (the statements that insert set it).
    await queryRunner.query(
      `ALTER TABLE "messages" ADD "parent_id" uuid, ADD "on_active_path" boolean NOT NULL DEFAULT true, ADD "chosen_version" integer NOT NULL DEFAULT '0', ADD "sibling_count" integer NOT NULL DEFAULT '1'`,
    );
    await queryRunner.query(`ALTER TABLE "messages" ALTER "on_active_path" SET DEFAULT false`);
    await queryRunner.query(
      `ALTER TABLE "chat_rooms" ADD "version" integer NOT NULL DEFAULT '1', ADD "active_message_id" uuid`,
    );
    await queryRunner.query(`
      UPDATE "messages" m SET "parent_id" = line.previous
      FROM (
        SELECT "id", lag("id") OVER (PARTITION BY "chat_room_id" ORDER BY "created_at", "id") AS previous
        FROM "messages"
      ) line
      WHERE m."id" = line."id" AND line.previous IS NOT NULL`);
    await queryRunner.query(`
      UPDATE "chat_rooms" r SET "active_message_id" = newest."id"
      FROM (
        SELECT DISTINCT ON ("chat_room_id") "chat_room_id", "id" FROM "messages"
        ORDER BY "chat_room_id", "created_at" DESC, "id" DESC
      ) newest
      WHERE r."id" = newest."chat_room_id"`);
    await queryRunner.query(
      `CREATE INDEX "ix_messages_room_parent" ON "messages"  ("chat_room_id", "parent_id", "chosen_version", "created_at", "id") `,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_messages_active_path" ON "messages"  ("chat_room_id", "created_at", "id") WHERE "on_active_path"`,
    );
    await queryRunner.query(
      `ALTER TABLE "messages" ADD CONSTRAINT "uq_messages_room_id" UNIQUE ("chat_room_id", "id")`,
    );
    await queryRunner.query(
      `ALTER TABLE "messages" ADD CONSTRAINT "fk_messages_parent" FOREIGN KEY ("parent_id", "chat_room_id") REFERENCES "messages"("id","chat_room_id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "messages" DROP CONSTRAINT "fk_messages_parent"`);
    await queryRunner.query(`ALTER TABLE "messages" DROP CONSTRAINT "uq_messages_room_id"`);
    await queryRunner.query(`DROP INDEX "public"."ix_messages_active_path"`);
    await queryRunner.query(`DROP INDEX "public"."ix_messages_room_parent"`);
    await queryRunner.query(
      `ALTER TABLE "chat_rooms" DROP COLUMN "active_message_id", DROP COLUMN "version"`,
    );
    await queryRunner.query(
      `ALTER TABLE "messages" DROP COLUMN "sibling_count", DROP COLUMN "chosen_version", DROP COLUMN "on_active_path", DROP COLUMN "parent_id"`,
    );
  }
}
