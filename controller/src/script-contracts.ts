// What each Lua script takes and answers, one zod pair per script. ARGV[1] is a JSON table (args); raw
// bytes (log chunks, log tails) ride in ARGV[2..] beside it, never inside it, so a MiB is neither escaped
// in Node nor decoded again in Lua. Every reply is a JSON object: {err, expected?} for a refusal, else the
// script's reply. Args are built by our own typed code, so their schemas give types and the header check
// (test/unit/controller-scripts.test.ts) and are not run; replies cross the Redis boundary and are parsed.
import { z } from 'zod';
import { HttpAgentError } from '../../src/shared/errors.js';
import { stepSpecSchema } from '../../src/shared/protocol/job.js';
import { scriptFiles, type ScriptName } from './script-names.js';
import { scriptError, scriptErrorCodeSchema, type ScriptErrorContext } from './script-errors.js';

const int = z.number().int();

/** A string field whose text is JSON (stored as such in Redis), parsed with `schema` on the way out. */
function jsonText<T extends z.ZodType>(schema: T) {
  return z
    .string()
    .transform((s) => JSON.parse(s) as unknown)
    .pipe(schema);
}

/** cjson writes an empty Lua table as {} (it cannot tell an empty array from an empty object). */
function luaArray<T extends z.ZodType>(item: T) {
  return z.preprocess((v) => (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0 ? [] : v), z.array(item));
}

const labels = z.record(z.string(), z.string());
const cancel = z.strictObject({ cancel: z.boolean() });

const claimArgs = z.strictObject({
  agentId: z.string(),
  max: int,
  memoTtlMs: int,
  reapLimit: int,
  wakeChannel: z.string(),
  woken: z.boolean(),
  retentionSec: int,
  logCapBytes: int,
  credentialHash: z.string(),
});

const claimReply = z.strictObject({
  now: int,
  labels: jsonText(labels),
  leaseMs: int,
  silent: z.literal(true).optional(),
  drained: z.literal(true).optional(),
  jobs: luaArray(
    z.strictObject({
      id: z.string(),
      epoch: int,
      attempt: int,
      steps: jsonText(z.array(stepSpecSchema)),
      timeoutSec: int.optional(),
      logOffset: int,
    }),
  ),
});

const enqueueArgs = z.strictObject({
  wakeChannel: z.string(),
  wakeMessage: z.string(),
  jobs: z.array(
    z.strictObject({
      id: z.string(),
      idem: z.string().optional(),
      queue: z.string(),
      selector: z.string().optional(),
      wake: z.string(),
      priority: int,
      maxAttempts: int,
      timeoutSec: int.optional(),
      steps: z.string(),
      stepCount: int,
      target: z.string(),
      tasks: z.string(),
      schedule: z.strictObject({ agentId: z.string(), name: z.string() }).optional(),
      indexes: z.array(z.string()),
    }),
  ),
});

const enqueueReply = z.strictObject({
  jobs: luaArray(z.strictObject({ id: z.string(), state: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']), created: z.boolean() })),
});

const appendReply = z.strictObject({ offset: int, cancel: z.boolean(), storedAt: int.optional() });

export interface ScriptContract {
  /** ARGV[1], as a table. */
  args: z.ZodType;
  /** The reply when it is not a refusal. */
  reply: z.ZodType;
}

export const scriptContracts = {
  appendLog: {
    args: z.strictObject({ jobId: z.string(), epoch: int, offset: int, capBytes: int, agentId: z.string() }),
    reply: appendReply,
  },
  appendLogFast: {
    args: z.strictObject({ jobId: z.string(), epoch: int, offset: int, length: int, capBytes: int, storedAt: int, pushed: int, agentId: z.string() }),
    reply: z.union([appendReply.omit({ storedAt: true }), z.strictObject({ slow: z.literal(true) })]),
  },
  cancel: {
    args: z.strictObject({ jobId: z.string(), retentionSec: int }),
    reply: z.strictObject({ state: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']) }),
  },
  claim: { args: claimArgs, reply: claimReply },
  completeClaim: {
    args: z.strictObject({
      agentId: z.string(),
      retentionSec: int,
      logCapBytes: int,
      results: z.array(
        z.strictObject({
          id: z.string(),
          epoch: int,
          outcome: z.enum(['succeeded', 'failed', 'cancelled']),
          error: z.string().optional(),
          logBytes: int,
          tail: z.strictObject({ offset: int, arg: int }).optional(),
          steps: z.array(z.string()),
        }),
      ),
      claim: claimArgs.omit({ woken: true, retentionSec: true, logCapBytes: true }).extend({ when: z.enum(['all', 'ok']) }).optional(),
    }),
    reply: z.strictObject({
      results: luaArray(
        z.strictObject({
          status: z.enum(['accepted', 'duplicate', 'JOB_NOT_FOUND', 'STALE_EPOCH', 'LOG_INCOMPLETE']),
          expected: int.optional(),
        }),
      ),
      claim: claimReply.optional(),
    }),
  },
  enqueue: { args: enqueueArgs, reply: enqueueReply },
  enqueueClaim: {
    args: enqueueArgs.extend({ claim: claimArgs.extend({ woken: z.literal(true) }) }),
    reply: enqueueReply.extend({ claim: claimReply.optional() }),
  },
  fleetMetrics: {
    args: z.strictObject({ offlineAfterMs: int, maxLeases: int }),
    reply: z.strictObject({
      now: int,
      leases: int,
      leasesCounted: int,
      queues: luaArray(z.strictObject({ queue: z.string(), queued: int, running: int, headWaitMs: int.optional() })),
      agents: luaArray(
        z.strictObject({
          id: z.string(),
          state: z.enum(['online', 'draining', 'offline', 'revoked']),
          lastSeenAt: int,
          monitor: z.enum(['alive', 'lapsed', 'none']),
          schedules: luaArray(z.strictObject({ name: z.string(), state: z.enum(['succeeded', 'failed', 'cancelled']), finishedAt: int })),
        }),
      ),
      stats: luaArray(z.string()),
    }),
  },
  heartbeat: {
    args: z.strictObject({
      agentId: z.string(),
      state: z.enum(['online', 'draining']),
      running: int,
      ttlSec: int,
      quietMs: int,
      leases: z.array(z.strictObject({ id: z.string(), epoch: int })),
    }),
    reply: z.strictObject({ now: int, leases: z.record(z.string(), z.enum(['ok', 'cancel', 'stale'])) }),
  },
  monitorHeartbeat: {
    args: z.strictObject({ agentId: z.string(), ttlSec: int, heartbeat: z.string() }),
    reply: z.strictObject({ now: int }),
  },
  monitorMetrics: {
    args: z.strictObject({
      windowMs: int,
      maxSamples: int,
      maxBytes: int,
      ttlSec: int,
      quotaBytes: int,
      samples: z.array(z.strictObject({ ts: int, sample: z.string() })),
    }),
    reply: z.strictObject({ kept: int }),
  },
  reap: {
    args: z.strictObject({ limit: int, retentionSec: int, wakeChannel: z.string(), trimIndexes: int }),
    reply: z.strictObject({ expired: int }),
  },
  register: {
    args: z.strictObject({
      agentId: z.string(),
      ttlSec: int,
      agent: z.strictObject({
        hostname: z.string(),
        addresses: z.string(),
        port: int,
        version: z.string(),
        commit: z.string(),
        labels: z.string(),
        capacity: int,
        leaseMs: int,
      }),
    }),
    reply: z.strictObject({ now: int }),
  },
  renew: {
    args: z.strictObject({ jobId: z.string(), epoch: int, agentId: z.string() }),
    reply: cancel,
  },
  revokeAgent: {
    args: z.strictObject({ agentId: z.string(), retentionSec: int, wakeChannel: z.string(), revokeChannel: z.string() }),
    reply: z.strictObject({ requeued: int, cancelled: int }),
  },
  rolloutRelease: {
    args: z.strictObject({
      version: z.string(),
      channel: z.string(),
      canaryPercent: int,
      canaryLabels: z.string(),
      maxInFlight: int,
      release: z
        .strictObject({
          version: z.string(),
          commit: z.string(),
          arch: z.string(),
          sha256: z.string(),
          size: int,
          signed: z.string(),
          uploadedAt: z.string(),
        })
        .optional(),
    }),
    reply: z.strictObject({ latest: z.string(), previous: z.string().optional() }),
  },
  offerRelease: {
    args: z.strictObject({ agentId: z.string(), commit: z.string(), max: int, staleMs: int, ttlMs: int }),
    reply: z.strictObject({ admitted: z.boolean(), moving: int }),
  },
  lockReleaseUpload: {
    args: z.strictObject({ version: z.string(), ttlMs: int }),
    reply: z.strictObject({ expiresAt: int }),
  },
  pruneReleases: {
    args: z.strictObject({ keep: int, limit: int, staleMs: int }),
    reply: z.strictObject({ since: int, removed: luaArray(z.strictObject({ version: z.string(), sha256: z.string() })) }),
  },
  unlockPrunedReleases: {
    args: z.strictObject({ since: int, versions: z.array(z.string()) }),
    reply: z.strictObject({ unlocked: int }),
  },
  step: {
    args: z.strictObject({ jobId: z.string(), epoch: int, index: int, state: z.string(), status: z.string(), agentId: z.string() }),
    reply: cancel,
  },
} satisfies Record<ScriptName, ScriptContract>;

export type ScriptArgs<N extends ScriptName> = z.input<(typeof scriptContracts)[N]['args']>;
export type ScriptReply<N extends ScriptName> = z.output<(typeof scriptContracts)[N]['reply']>;

const refusalSchema = z.union([
  z.strictObject({ err: scriptErrorCodeSchema.extract(['LOG_OFFSET_GAP', 'LOG_INCOMPLETE']), expected: int }),
  z.strictObject({ err: z.literal('MONITOR_QUOTA'), retryAfterSec: int }),
  z.strictObject({ err: scriptErrorCodeSchema.exclude(['LOG_OFFSET_GAP', 'LOG_INCOMPLETE', 'MONITOR_QUOTA']) }),
]);

/** A script's JSON reply → its typed value; a refusal ({err}) is thrown as the error it stands for. */
export function decodeReply<N extends ScriptName>(name: N, raw: unknown, ctx: ScriptErrorContext = {}): ScriptReply<N> {
  const unexpected = (why: string, cause?: unknown) =>
    new HttpAgentError('INTERNAL', `unexpected reply from ${scriptFiles[name].file}: ${why}`, { cause });
  if (typeof raw !== 'string') throw unexpected(`a ${typeof raw}, not JSON text`);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw unexpected('not JSON', err);
  }
  if (value !== null && typeof value === 'object' && 'err' in value) {
    const refusal = refusalSchema.safeParse(value);
    if (!refusal.success) throw unexpected(z.prettifyError(refusal.error), refusal.error);
    const d = refusal.data;
    throw scriptError(d.err, ctx, 'expected' in d ? d.expected : 'retryAfterSec' in d ? d.retryAfterSec : undefined);
  }
  let parsed: z.ZodSafeParseResult<unknown>;
  try {
    parsed = scriptContracts[name].reply.safeParse(value);
  } catch (err) {
    // A JSON-text field that is not JSON throws from its transform rather than failing the parse.
    throw unexpected(String(err), err);
  }
  if (!parsed.success) throw unexpected(z.prettifyError(parsed.error), parsed.error);
  return parsed.data as ScriptReply<N>;
}
