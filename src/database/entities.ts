import { Generation } from '../assistant/entities/generation.entity';
import { UsageDay } from '../assistant/entities/usage-day.entity';
import { ChatRoom } from '../chat/entities/chat-room.entity';
import { Message } from '../chat/entities/message.entity';
import { IdempotencyKey } from '../idempotency/entities/idempotency-key.entity';
import { User } from '../users/entities/user.entity';

/** Every entity the DataSource knows; listed explicitly so app, tests and CLI load the same set. */
export const entities = [User, ChatRoom, Message, Generation, UsageDay, IdempotencyKey];
