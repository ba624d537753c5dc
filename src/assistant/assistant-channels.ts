import { channel } from '../database/pg-pubsub';

// The assistant's signals between instances (PgPubSub, LISTEN/NOTIFY), all declared here.

/**
 * A generation's row changed: its text was flushed, it ended, or it was swept. Sent by the
 * flush and end statements themselves (pg_notify, delivered on commit) and by the sweep;
 * followers on any instance re-read the row (GenerationChanges).
 */
export const GENERATION_CHANGED = channel<{ id: string }>('generation_changed');

/** A cancel, published by any instance; the instance running the generation stops it. */
export const GENERATION_CANCEL = channel<{ id: string }>('generation_cancel');
