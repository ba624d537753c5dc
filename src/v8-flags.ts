import { setFlagsFromString } from 'node:v8';

/**
 * Imported first by main.ts. V8's allocation-site pretenuring, fed by the long-lived objects of
 * start-up, allocates per-request objects straight into the old generation: scavenges grow the
 * heap and slow down, and full mark-compacts run often under load, which costs throughput and
 * tail latency (bench/results/ has the measurements). The flag is read at each garbage collection, so setting it here, before the app loads,
 * covers everything the app allocates.
 */
setFlagsFromString('--no-allocation-site-pretenuring');
