// `npm run chaos`: the long chaos run. Thousands of jobs of random length and log volume through two
// controllers and three agents while agents are killed and paused, controllers restarted and cut off
// mid-claim, and Redis restarted; then every job is checked. Exits 1 when any problem is found.
// Options: --jobs N, --seed N, --cluster (three-master Redis Cluster), --redis-stop term|kill, --rounds N,
// --lease-ms N (shorter leases: more re-deliveries and stale reports).
import { parseArgs } from 'node:util';
import { runChaos, type ChaosEventKind } from '../test/helpers/chaos-run.js';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '3000' },
    seed: { type: 'string' },
    cluster: { type: 'boolean', default: false },
    'redis-stop': { type: 'string', default: 'kill' },
    rounds: { type: 'string', default: '4' },
    'lease-ms': { type: 'string', default: '5000' },
  },
});
const redisStop = values['redis-stop'] === 'term' ? 'term' : 'kill';
const seed = values.seed ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const round: ChaosEventKind[] = ['kill-agent', 'cut-controller', 'pause-agent', 'restart-redis', 'strand-results', 'kill-agent', 'freeze-controller', 'restart-controller'];
const events = Array.from({ length: Number(values.rounds) }, () => round).flat();

const report = await runChaos({
  system: { redis: values.cluster ? 'cluster' : 'single', redisStop, agents: 3, controllers: 2, concurrency: 6, leaseMs: Number(values['lease-ms']), longPollMs: 10_000 },
  jobs: Number(values.jobs),
  // Batches go in as jobs finish (three per slot open at most) and events fire at even shares of the
  // plan, so chaos meets queued, running and finishing jobs alike over the whole run.
  batch: 25,
  maxOpen: 54,
  seed,
  // Most jobs are short with little output; a few write a few hundred KB or run a few seconds.
  shape: { maxChunks: 8, maxLines: 60, maxPauseSec: 0.25, bigShare: 0.03 },
  events,
  settleTimeoutMs: 180_000,
  print: (line) => process.stdout.write(`${line}\n`),
});
process.stdout.write(`${report.text}\n`);
process.exitCode = report.problems.length === 0 ? 0 : 1;
