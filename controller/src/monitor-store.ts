// What monitors send through the controller, kept with bounded memory: each host's latest sample, a
// history trimmed by age, count and bytes, a per-minute byte quota, a heartbeat with a TTL, and the
// monitor's alert bookkeeping; each push is announced on the event stream.
import { z } from 'zod';
import { scheduleRunSchema, type HostSample, type metricsPushSchema, type monitorHeartbeatSchema, type ScheduleRun } from '../../src/shared/protocol/monitor-api.js';
import type { RedisLike, RunScript } from './commands.js';
import type { EventLog } from './event-stream.js';
import type { Keys } from './keys.js';

export const HISTORY_WINDOW_MS = 24 * 3600 * 1000;
const HISTORY_MAX = 20_000;

/** What finish-job.lua stores per schedule (cjson writes an empty error as ""). */
const storedRun = z.strictObject({ jobId: z.string(), state: z.string(), finishedAt: z.number().int(), error: z.string() });

export interface MonitorStoreOptions {
  retentionSec: number;
  /** Sample bytes one agent may store per minute. */
  quotaBytesPerMin: number;
  /** Sample bytes a host's history holds at most (the oldest go first). */
  historyMaxBytes: number;
}

const percent = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const field = (o: unknown, k: string): unknown => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined);

/**
 * The three figures the fleet page draws per host, from a sample of any shape (the store keeps samples
 * as sent): CPU busy, memory used and the fullest filesystem, in percent.
 */
export function sampleSummary(s: HostSample): { cpu: number | null; memory: number | null; disk: number | null } {
  const fs = field(s, 'filesystems');
  const used = fs && typeof fs === 'object' ? Object.values(fs).map((f) => percent(field(f, 'usedPercent'))).filter((v): v is number => v !== null) : [];
  return {
    cpu: percent(field(field(s, 'cpu'), 'busyPercent')),
    memory: percent(field(field(s, 'memory'), 'usedPercent')),
    disk: used.length ? Math.max(...used) : null,
  };
}

export function createMonitorStore(redis: RedisLike, run: RunScript, keys: Keys, opts: MonitorStoreOptions, events?: EventLog) {
  const pushMetrics = async (req: z.infer<typeof metricsPushSchema>): Promise<{ stored: number }> => {
    const maxCount = Math.min(HISTORY_MAX, Math.ceil(HISTORY_WINDOW_MS / 1000 / req.intervalSec) + 10);
    const samples = req.samples.map((s) => ({ ts: s.ts, sample: JSON.stringify(s) }));
    const ttlSec = Math.max(opts.retentionSec, HISTORY_WINDOW_MS / 1000);
    const { kept } = await run(
      'monitorMetrics',
      [keys.monitorLatest(req.agentId), keys.monitorHistory(req.agentId), keys.monitorQuota(req.agentId), keys.monitorHistoryBytes(req.agentId)],
      { windowMs: HISTORY_WINDOW_MS, maxSamples: maxCount, maxBytes: opts.historyMaxBytes, ttlSec, quotaBytes: opts.quotaBytesPerMin, samples },
      { agentId: req.agentId },
    );
    // Only the newest sample is announced: a monitor flushing an outage's buffer is one point on a sparkline.
    const newest = req.samples.reduce((a, b) => (b.ts >= a.ts ? b : a));
    await events?.append({ type: 'sample', id: req.agentId, ts: newest.ts, ...sampleSummary(newest) });
    return { stored: kept };
  };

  const heartbeat = async (req: z.infer<typeof monitorHeartbeatSchema>): Promise<{ serverTime: number }> => {
    const { now } = await run('monitorHeartbeat', [keys.monitorHeartbeat(req.agentId), keys.monitorSeen], {
      agentId: req.agentId,
      ttlSec: req.ttlSec,
      heartbeat: JSON.stringify({ checks: req.checks ?? {} }),
    });
    return { serverTime: now };
  };

  const putAlertState = async (agentId: string, state: Record<string, unknown>): Promise<void> => {
    await redis.set(keys.alertState(agentId), JSON.stringify(state), 'EX', opts.retentionSec);
  };

  const getAlertState = async (agentId: string): Promise<Record<string, unknown> | null> => {
    const raw = await redis.get(keys.alertState(agentId));
    return raw === null ? null : (JSON.parse(raw) as Record<string, unknown>);
  };

  const history = async (agentId: string, sinceMs: number): Promise<HostSample[]> => {
    const raw = await redis.zrangebyscore(keys.monitorHistory(agentId), sinceMs, '+inf');
    return raw.map((s) => JSON.parse(s) as HostSample);
  };

  /** Each schedule's last finished run, as includes/finish-job.lua filed it. */
  const scheduleRuns = async (agentId: string): Promise<ScheduleRun[]> => {
    const hash = await redis.hgetall(keys.scheduleRuns(agentId));
    return Object.entries(hash)
      .map(([schedule, text]) => scheduleRunSchema.parse({ schedule, ...storedRun.parse(JSON.parse(text)) }))
      .sort((a, b) => a.schedule.localeCompare(b.schedule));
  };

  return { pushMetrics, heartbeat, putAlertState, getAlertState, history, scheduleRuns };
}

export type MonitorStore = ReturnType<typeof createMonitorStore>;
