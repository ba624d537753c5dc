import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Search (GET /api/search, GET /api/chat-rooms?q=): trigram indexes scoped to one owner.
 *
 * - messages.owner_id: the room's owner, denormalised so that one GIN index holds
 *   (owner_id, content trigrams) — btree_gin lets a GIN index carry the uuid — and a user's
 *   search never reads another user's index entries. The app's insert statement sets it; a
 *   trigger fills it for any other writer that leaves it out (bulk loads, older code).
 * - ix_messages_owner_created: the same user's messages newest first, for terms too short to
 *   have trigrams (one or two characters) and for the keyset order.
 * - ix_chat_rooms_owner_title_trgm: room titles (`q` on the room list), per owner too.
 */
export class MessageSearch1796200000000 implements MigrationInterface {
  name = 'MessageSearch1796200000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE EXTENSION IF NOT EXISTS pg_trgm`);
    await queryRunner.query(`CREATE EXTENSION IF NOT EXISTS btree_gin`);
    await queryRunner.query(`ALTER TABLE "messages" ADD "owner_id" uuid`);
    await queryRunner.query(
      `UPDATE "messages" m SET "owner_id" = r."owner_id" FROM "chat_rooms" r WHERE r."id" = m."chat_room_id"`,
    );
    await queryRunner.query(`ALTER TABLE "messages" ALTER COLUMN "owner_id" SET NOT NULL`);
    await queryRunner.query(`
      CREATE FUNCTION "messages_fill_owner_id"() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        SELECT r."owner_id" INTO NEW."owner_id" FROM "chat_rooms" r WHERE r."id" = NEW."chat_room_id";
        RETURN NEW;
      END $$`);
    await queryRunner.query(`
      CREATE TRIGGER "tr_messages_fill_owner_id" BEFORE INSERT ON "messages"
      FOR EACH ROW WHEN (NEW."owner_id" IS NULL) EXECUTE FUNCTION "messages_fill_owner_id"()`);
    await queryRunner.query(
      `CREATE INDEX "ix_messages_owner_created" ON "messages" ("owner_id", "created_at", "id")`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_messages_owner_content_trgm" ON "messages" USING gin ("owner_id", "content" gin_trgm_ops)`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_chat_rooms_owner_title_trgm" ON "chat_rooms" USING gin ("owner_id", "title" gin_trgm_ops)`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."ix_chat_rooms_owner_title_trgm"`);
    await queryRunner.query(`DROP INDEX "public"."ix_messages_owner_content_trgm"`);
    await queryRunner.query(`DROP INDEX "public"."ix_messages_owner_created"`);
    await queryRunner.query(`DROP TRIGGER "tr_messages_fill_owner_id" ON "messages"`);
    await queryRunner.query(`DROP FUNCTION "messages_fill_owner_id"()`);
    await queryRunner.query(`ALTER TABLE "messages" DROP COLUMN "owner_id"`);
    // The extensions stay: other objects of the database may use them.
  }
}
