import { EventStream } from '../assistant/entities/event-stream.entity';
import { Generation } from '../assistant/entities/generation.entity';
import { UsageDay } from '../assistant/entities/usage-day.entity';
import { RateLimit } from '../auth/entities/rate-limit.entity';
import { Session } from '../auth/entities/session.entity';
import { ChatRoom } from '../chat/entities/chat-room.entity';
import { Message } from '../chat/entities/message.entity';
import { IdempotencyKey } from '../idempotency/entities/idempotency-key.entity';
import { ImportChunk } from '../import/entities/import-chunk.entity';
import { ImportItem } from '../import/entities/import-item.entity';
import { Import } from '../import/entities/import.entity';
import { User } from '../users/entities/user.entity';

/**
 * Every entity the DataSource knows, one per table of the migrations; listed explicitly so app,
 * tests and CLI load the same set. test/database/schema.e2e-spec.ts fails when a table has no
 * entity or an entity differs from what the migrations made.
 */
export const entities = [
  User,
  ChatRoom,
  Message,
  Generation,
  UsageDay,
  EventStream,
  Session,
  RateLimit,
  IdempotencyKey,
  Import,
  ImportChunk,
  ImportItem,
];
