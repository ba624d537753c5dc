import { MigrationInterface, QueryRunner } from 'typeorm';

export class Assistant1796000000000 implements MigrationInterface {
  name = 'Assistant1796000000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "chat_rooms" ADD "model" character varying(200), ADD "system_prompt" text`,
    );
    // Every existing message was posted by a client: complete.
    await queryRunner.query(
      `ALTER TABLE "messages" ADD "status" character varying(16) NOT NULL DEFAULT 'complete', ADD "model" character varying(200), ADD "generation_id" uuid, ADD CONSTRAINT "ck_messages_status" CHECK ("status" IN ('streaming', 'complete', 'stopped', 'failed'))`,
    );
    await queryRunner.query(
      `CREATE TABLE "generations" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "chat_room_id" uuid NOT NULL, "message_id" uuid NOT NULL, "user_message_id" uuid, "user_id" uuid NOT NULL, "status" character varying(16) NOT NULL DEFAULT 'streaming', "model" character varying(200) NOT NULL, "finish_reason" character varying(64), "prompt_tokens" integer, "completion_tokens" integer, "error_code" character varying(32), "delta_lengths" integer array NOT NULL DEFAULT '{}', "title" character varying(200), "owner_instance" integer NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "finished_at" TIMESTAMP(3) WITH TIME ZONE, CONSTRAINT "ck_generations_status" CHECK ("status" IN ('streaming', 'complete', 'stopped', 'failed')), CONSTRAINT "pk_generations" PRIMARY KEY ("id"))`,
    );
    // At most one running generation per room, whatever the number of instances.
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_generations_room_streaming" ON "generations" ("chat_room_id") WHERE "status" = 'streaming'`,
    );
    // The per-user concurrency count, and the sweep for generations of dead instances.
    await queryRunner.query(
      `CREATE INDEX "ix_generations_user_streaming" ON "generations" ("user_id") WHERE "status" = 'streaming'`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_generations_owner_streaming" ON "generations" ("owner_instance") WHERE "status" = 'streaming'`,
    );
    // Foreign keys' cascades (a room or a message deleted) look generations up by these.
    await queryRunner.query(`CREATE INDEX "ix_generations_room" ON "generations" ("chat_room_id")`);
    await queryRunner.query(
      `CREATE INDEX "ix_generations_message" ON "generations" ("message_id")`,
    );
    await queryRunner.query(`CREATE INDEX "ix_generations_user" ON "generations" ("user_id")`);
    await queryRunner.query(
      `ALTER TABLE "generations" ADD CONSTRAINT "fk_generations_chat_room" FOREIGN KEY ("chat_room_id") REFERENCES "chat_rooms"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "generations" ADD CONSTRAINT "fk_generations_message" FOREIGN KEY ("message_id") REFERENCES "messages"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "generations" ADD CONSTRAINT "fk_generations_user" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    // Usage per user and UTC day: kept apart from generations so deleting a room does not
    // give back its tokens.
    await queryRunner.query(
      `CREATE TABLE "usage_days" ("user_id" uuid NOT NULL, "day" date NOT NULL, "prompt_tokens" bigint NOT NULL DEFAULT 0, "completion_tokens" bigint NOT NULL DEFAULT 0, "generations" integer NOT NULL DEFAULT 0, CONSTRAINT "pk_usage_days" PRIMARY KEY ("user_id", "day"))`,
    );
    await queryRunner.query(
      `ALTER TABLE "usage_days" ADD CONSTRAINT "fk_usage_days_user" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "usage_days"`);
    await queryRunner.query(`DROP TABLE "generations"`);
    await queryRunner.query(
      `ALTER TABLE "messages" DROP CONSTRAINT "ck_messages_status", DROP COLUMN "generation_id", DROP COLUMN "model", DROP COLUMN "status"`,
    );
    await queryRunner.query(
      `ALTER TABLE "chat_rooms" DROP COLUMN "system_prompt", DROP COLUMN "model"`,
    );
  }
}
