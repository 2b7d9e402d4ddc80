/**
 * The spoofing client and recording app for the transparent listener, run INSIDE the test's
 * network namespace (`ip netns exec NS node spoof-child.ts SEED FIRST N LISTEN_PORT APP_PORT CONC`):
 * a plain TCP app on APP_PORT that records its peer address, and the hostile clients. Prints one
 * JSON line with the verdict.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { spoofCases } from './spoof-gen.ts';
import { peerApp, sendAll, verdict } from './spoof-run.ts';

const [seed, first, n, listenPort, appPort, concurrency] = process.argv.slice(2).map(Number);
const app = await peerApp('::', appPort);
const cases = spoofCases(seed!, 'transparent', first!, n!);
const outcomes = await sendAll(cases, listenPort!, concurrency || 32, 3000);
await sleep(300);
const v = verdict(cases, app.seen);
await app.close();
process.stdout.write(`${JSON.stringify({ tried: cases.length, outcomes, ...v })}\n`);
process.exit(0);
