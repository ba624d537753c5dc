import { setFlagsFromString } from 'node:v8';

/**
 * Imported first by main.ts. V8's allocation-site pretenuring, fed by the long-lived objects of
 * start-up, went on to allocate per-request objects straight into the old generation: every
 * scavenge grew the heap by megabytes, scavenges took 3-4 ms instead of under 1 ms and a full
 * mark-compact ran every second under load. Without it, a load test of a room of 100 messages
 * went from 1,400 to 1,770 requests/s and p99 from 52 to 31 ms (bench/README.md has more).
 * The flag is read at each garbage collection, so setting it here, before the app loads,
 * covers everything the app allocates.
 */
setFlagsFromString('--no-allocation-site-pretenuring');
