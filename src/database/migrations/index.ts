import { CreateUsers1764165600000 } from './1764165600000-CreateUsers';
import { CreateChat1795701473491 } from './1795701473491-CreateChat';
import { CreateIdempotencyKeys1796300000000 } from './1796300000000-CreateIdempotencyKeys';

/**
 * Migrations in the order they run. Listed explicitly (not globbed) so the same classes load
 * under ts-node, Jest and the compiled app; a unit test fails when a file here is not listed.
 */
export const migrations = [
  CreateUsers1764165600000,
  CreateChat1795701473491,
  CreateIdempotencyKeys1796300000000,
];
