import { CreateUsers1764165600000 } from './1764165600000-CreateUsers';
import { CreateChat1795701473491 } from './1795701473491-CreateChat';
import { Assistant1796000000000 } from './1796000000000-Assistant';
import { CreateSessions1796100000000 } from './1796100000000-CreateSessions';
import { MessageSearch1796200000000 } from './1796200000000-MessageSearch';
import { CreateIdempotencyKeys1796300000000 } from './1796300000000-CreateIdempotencyKeys';
import { CreateEventStreams1796420000000 } from './1796420000000-CreateEventStreams';
import { LiveSession1796500000000 } from './1796500000000-LiveSession';
import { ConversationTrees1796600000000 } from './1796600000000-ConversationTrees';
import { Imports1796700000000 } from './1796700000000-Imports';

/**
 * Migrations in the order they run. Listed explicitly (not globbed) so the same classes load
 * under ts-node, Jest and the compiled app; a unit test fails when a file here is not listed.
 */
export const migrations = [
  CreateUsers1764165600000,
  CreateChat1795701473491,
  Assistant1796000000000,
  CreateSessions1796100000000,
  MessageSearch1796200000000,
  CreateIdempotencyKeys1796300000000,
  CreateEventStreams1796420000000,
  LiveSession1796500000000,
  ConversationTrees1796600000000,
  Imports1796700000000,
];
