import { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateChat1795701473491 implements MigrationInterface {
  name = 'CreateChat1795701473491';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "messages" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "chat_room_id" uuid NOT NULL, "role" character varying(16) NOT NULL, "content" text NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "ck_messages_role" CHECK ("role" IN ('user', 'assistant', 'system')), CONSTRAINT "pk_messages" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_messages_room_created" ON "messages"  ("chat_room_id", "created_at", "id") `,
    );
    await queryRunner.query(
      `CREATE TABLE "chat_rooms" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "title" character varying(200) NOT NULL, "owner_id" uuid NOT NULL, "message_count" integer NOT NULL DEFAULT '0', "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "pk_chat_rooms" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_chat_rooms_owner_updated" ON "chat_rooms"  ("owner_id", "updated_at", "id") `,
    );
    await queryRunner.query(
      `ALTER TABLE "messages" ADD CONSTRAINT "fk_messages_chat_room" FOREIGN KEY ("chat_room_id") REFERENCES "chat_rooms"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "chat_rooms" ADD CONSTRAINT "fk_chat_rooms_owner" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "chat_rooms" DROP CONSTRAINT "fk_chat_rooms_owner"`);
    await queryRunner.query(`ALTER TABLE "messages" DROP CONSTRAINT "fk_messages_chat_room"`);
    await queryRunner.query(`DROP INDEX "public"."ix_chat_rooms_owner_updated"`);
    await queryRunner.query(`DROP TABLE "chat_rooms"`);
    await queryRunner.query(`DROP INDEX "public"."ix_messages_room_created"`);
    await queryRunner.query(`DROP TABLE "messages"`);
  }
}
