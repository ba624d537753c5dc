/**
 * What the floor needs of the schema the app's migrations create (src/database/migrations:
 * users, chat_rooms and messages with the columns the floor reads, sessions), for
 * `--floor-only` runs, where no app runs its migrations. Keep it in step with them; a full run
 * never uses it: there the app creates the schema and the harness only checks that the tables
 * exist. The conversation trees are there (migration ConversationTrees: see floor/sql.ts).
 * messages.owner_id stays empty for the seed's rows here (the app's migration fills it by
 * trigger): no floor route reads it.
 */
export const DEV_SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  id uuid NOT NULL DEFAULT gen_random_uuid() CONSTRAINT pk_users PRIMARY KEY,
  email varchar(254) NOT NULL CONSTRAINT uq_users_email UNIQUE,
  password_hash text NOT NULL,
  display_name varchar(50),
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  updated_at timestamptz(3) NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS chat_rooms (
  id uuid NOT NULL DEFAULT gen_random_uuid() CONSTRAINT pk_chat_rooms PRIMARY KEY,
  title varchar(200) NOT NULL,
  owner_id uuid NOT NULL CONSTRAINT fk_chat_rooms_owner REFERENCES users (id) ON DELETE CASCADE,
  message_count integer NOT NULL DEFAULT 0,
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  updated_at timestamptz(3) NOT NULL DEFAULT now(),
  model varchar(200),
  system_prompt text,
  version integer NOT NULL DEFAULT 1,
  active_message_id uuid
);
CREATE INDEX IF NOT EXISTS ix_chat_rooms_owner_updated ON chat_rooms (owner_id, updated_at, id);
CREATE TABLE IF NOT EXISTS messages (
  id uuid NOT NULL DEFAULT gen_random_uuid() CONSTRAINT pk_messages PRIMARY KEY,
  chat_room_id uuid NOT NULL
    CONSTRAINT fk_messages_chat_room REFERENCES chat_rooms (id) ON DELETE CASCADE,
  role varchar(16) NOT NULL CONSTRAINT ck_messages_role CHECK (role IN ('user', 'assistant', 'system')),
  content text NOT NULL,
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  status varchar(16) NOT NULL DEFAULT 'complete',
  model varchar(200),
  generation_id uuid,
  owner_id uuid,
  parent_id uuid,
  on_active_path boolean NOT NULL DEFAULT false,
  chosen_version integer NOT NULL DEFAULT 0,
  sibling_count integer NOT NULL DEFAULT 1,
  CONSTRAINT uq_messages_room_id UNIQUE (chat_room_id, id),
  CONSTRAINT fk_messages_parent FOREIGN KEY (parent_id, chat_room_id)
    REFERENCES messages (id, chat_room_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS ix_messages_room_created ON messages (chat_room_id, created_at, id);
CREATE INDEX IF NOT EXISTS ix_messages_room_parent
  ON messages (chat_room_id, parent_id, chosen_version, created_at, id);
CREATE INDEX IF NOT EXISTS ix_messages_active_path
  ON messages (chat_room_id, created_at, id) WHERE on_active_path;
CREATE TABLE IF NOT EXISTS sessions (
  id uuid NOT NULL CONSTRAINT pk_sessions PRIMARY KEY,
  user_id uuid NOT NULL CONSTRAINT fk_sessions_user REFERENCES users (id) ON DELETE CASCADE,
  generation integer NOT NULL DEFAULT 0,
  token_hash bytea NOT NULL,
  previous_token_hash bytea,
  rotated_at timestamptz(3),
  created_at timestamptz(3) NOT NULL,
  last_used_at timestamptz(3) NOT NULL,
  idle_expires_at timestamptz(3) NOT NULL,
  expires_at timestamptz(3) NOT NULL,
  access_expires_at timestamptz(3) NOT NULL,
  revoked_at timestamptz(3),
  revoked_reason varchar(32),
  user_agent varchar(512)
);
`;

/** Tables the bench needs; a full run fails early, with a hint, when the app lacks one. */
export const REQUIRED_TABLES = ['users', 'chat_rooms', 'messages', 'sessions'] as const;
