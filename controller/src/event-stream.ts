// The dashboard's event stream: a capped Redis STREAM that the scripts (includes/job-events.lua) and the
// stores append to, and one tailing connection per controller that fans new entries out to every open
// GET /v1/events, each resumable from the id it last saw.
import type { Logger } from '../../src/shared/log.js';
import { dashboardEventSchema, type DashboardEvent, type StoredEvent } from '../../src/shared/protocol/events.js';
import type { RedisLike } from './commands.js';
import type { Keys } from './keys.js';

/** Roughly how many events the stream keeps; must equal EVENTS_MAXLEN in includes/job-events.lua. */
export const EVENTS_MAXLEN = 10000;
/** Entries read per round trip, by the tail and by a catch-up. */
const READ_COUNT = 500;
/** How long the tail's XREAD blocks before it looks again whether anyone still listens. */
const BLOCK_MS = 5000;

export interface StreamEvent {
  id: string;
  event: DashboardEvent;
}

/** Stream ids ("ms-seq") in order; ids are never compared as strings ("9-0" > "10-0"). */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am !== bm ? am - bm : (as ?? 0) - (bs ?? 0);
}

type RawEntries = [string, string[]][];

function decode(entries: RawEntries, logger: Logger): StreamEvent[] {
  const out: StreamEvent[] = [];
  for (const [id, fields] of entries) {
    const at = fields.indexOf('e');
    try {
      const event = dashboardEventSchema.parse(JSON.parse(fields[at + 1] ?? ''));
      out.push({ id, event });
    } catch (err) {
      // One bad entry (a newer writer, a hand edit) must not stop every page's stream.
      logger.debug({ id, err: (err as Error).message }, 'skipped an event the stream schema refuses');
    }
  }
  return out;
}

export function createEventLog(redis: RedisLike, keys: Keys) {
  return {
    /** Appends from TypeScript (register, monitor samples, an agent going silent). */
    append: async (event: StoredEvent): Promise<void> => {
      await redis.xadd(keys.events, 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'e', JSON.stringify(event));
    },
    /** Entries after `after` (exclusive), oldest first. */
    after: async (after: string, count: number): Promise<RawEntries> => (await redis.xrange(keys.events, `(${after}`, '+', 'COUNT', count)) as RawEntries,
    /** The newest entry's id, "0-0" for an empty stream. */
    lastId: async (): Promise<string> => ((await redis.xrevrange(keys.events, '+', '-', 'COUNT', 1)) as RawEntries)[0]?.[0] ?? '0-0',
    firstId: async (): Promise<string | undefined> => ((await redis.xrange(keys.events, '-', '+', 'COUNT', 1)) as RawEntries)[0]?.[0],
  };
}
export type EventLog = ReturnType<typeof createEventLog>;

export interface Subscription {
  /** Resolves once the backlog after the subscriber's id was delivered. */
  ready: Promise<void>;
  close(): void;
}

interface Subscriber {
  cursor: string | undefined;
  /** Entries the tail read while the backlog was still being fetched. */
  pending: StreamEvent[];
  deliver(events: StreamEvent[]): void;
}

/**
 * `connect` makes the tail's connection, a connection of its own (XREAD BLOCK holds it), the first time
 * someone subscribes: a controller nobody watches holds no extra connection. It reads only while someone
 * subscribes.
 */
export function createEventHub(connect: () => RedisLike, log: EventLog, keys: Keys, logger: Logger) {
  const subs = new Set<Subscriber>();
  let tail: RedisLike | undefined;
  let loop: Promise<void> | undefined;
  /** Resolves once the running tail knows where it starts: a backlog read after that cannot leave a gap. */
  let started: Promise<void> = Promise.resolve();
  let closed = false;

  const fanOut = (events: StreamEvent[]) => {
    for (const s of subs) {
      if (s.cursor === undefined) {
        s.pending.push(...events);
        continue;
      }
      const fresh = events.filter((e) => compareIds(e.id, s.cursor!) > 0);
      if (fresh.length === 0) continue;
      s.cursor = fresh[fresh.length - 1]!.id;
      s.deliver(fresh);
    }
  };

  const run = async (start: string) => {
    tail ??= connect();
    let last = start;
    let failing = false;
    logger.debug({ from: start, subscribers: subs.size }, 'event stream tail started');
    while (!closed && subs.size > 0) {
      try {
        const reply = (await tail!.xread('COUNT', READ_COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', keys.events, last)) as [string, RawEntries][] | null;
        failing = false;
        const entries = reply?.[0]?.[1] ?? [];
        if (entries.length === 0) continue;
        last = entries[entries.length - 1]![0];
        fanOut(decode(entries, logger));
      } catch (err) {
        if (closed) return;
        if (!failing) logger.warn({ err: (err as Error).message }, 'event stream tail failed; retrying');
        failing = true;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    logger.debug({ at: last, closed }, 'event stream tail stopped');
  };

  const ensureLoop = () => {
    if (loop) return;
    const first = log.lastId();
    started = first.then(() => undefined);
    loop = first
      .then(run)
      .catch((err: Error) => logger.warn({ err: err.message }, 'event stream tail could not start'))
      .finally(() => {
        loop = undefined;
        // A subscriber that came while the loop was ending needs a new one.
        if (!closed && subs.size > 0) ensureLoop();
      });
  };

  /**
   * `after`: the last id the client saw (Last-Event-ID), or for a new client the stream's last id read
   * before its response started (`lastId`), so nothing committed once the client sees the stream open is
   * lost. `onReset` is called instead of a backlog when events after `after` may have been trimmed away,
   * with the id the subscription goes on from.
   */
  const subscribe = (after: string, deliver: (events: StreamEvent[]) => void, onReset: (from: string) => void): Subscription => {
    const sub: Subscriber = { cursor: undefined, pending: [], deliver };
    // Subscribed before the backlog is read: what the tail reads meanwhile waits in `pending`.
    subs.add(sub);
    ensureLoop();
    const ready = (async () => {
      await started;
      let cursor = after;
      const first = await log.firstId();
      if (first !== undefined && compareIds(after, first) < 0) {
        cursor = await log.lastId();
        onReset(cursor);
      } else {
        for (;;) {
          const backlog = await log.after(cursor, READ_COUNT);
          if (backlog.length === 0) break;
          cursor = backlog[backlog.length - 1]![0];
          const events = decode(backlog, logger);
          if (events.length) deliver(events);
        }
      }
      const fresh = sub.pending.filter((e) => compareIds(e.id, cursor) > 0);
      sub.pending = [];
      sub.cursor = fresh.length ? fresh[fresh.length - 1]!.id : cursor;
      if (fresh.length) deliver(fresh);
    })();
    return { ready, close: () => void subs.delete(sub) };
  };

  return {
    subscribe,
    /** The newest entry's id ("0-0" for an empty stream): where a new client starts. */
    lastId: () => log.lastId(),
    get subscribers() {
      return subs.size;
    },
    /** Ends the tail and its connection (which also breaks a blocked XREAD). */
    close: async () => {
      closed = true;
      subs.clear();
      tail?.disconnect();
    },
    loop: () => loop,
  };
}
export type EventHub = ReturnType<typeof createEventHub>;
