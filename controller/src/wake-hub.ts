// Long-poll wake-ups: one subscriber connection per controller process listens on the wake channel
// and wakes in-process waiters, so thousands of waiting agents hold no Redis connection of their own.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../src/shared/log.js';
import type { RedisLike } from './commands.js';
import type { ScriptArgs, ScriptReply } from './script-contracts.js';

/** What an enqueue on this controller needs to make a waiting claim's claim itself (enqueue-claim-8.lua). */
export interface WaiterClaim {
  claimId: string;
  args: ScriptArgs<'enqueueClaim'>['claim'];
}

/** How a wait ended: woken (true), timed out or aborted (false), or handed the claim an enqueue made for it. */
export type Wake = boolean | { handed: ScriptReply<'claim'> };

/** A claim waiting for work. `labels` is null until the agent's labels are known (then it matches any selector). */
export interface Waiter {
  readonly agentId: string;
  labels: Record<string, string> | null;
  /** Set once the claim is known to wait: an enqueue here may then claim for it (Notifier.take). */
  claim: WaiterClaim | undefined;
  /**
   * Its last claim found the agent drained by the platform: no wake is spent on it (it would claim
   * nothing and keep the job's wake from an agent that can take it) until Notifier.drainChanged.
   */
  drained: boolean;
  /** Resolves true when woken (or already woken since the last wait), false on timeout or abort, or with what it was handed. */
  wait(ms: number, signal?: AbortSignal): Promise<Wake>;
  dispose(): void;
  /** Leaves without using the wake it got (its agent went silent): the wake passes to another waiter for that work. */
  handOff(): void;
}

/** A waiting claim an enqueue took (Notifier.take): no wake, timeout or abort ends it until one of these. */
export interface TakenWaiter {
  readonly agentId: string;
  readonly claim: WaiterClaim;
  /** Ends the wait with the claim made for it. */
  hand(reply: ScriptReply<'claim'>): void;
  /**
   * No claim was made: it waits on (or ends, if its time ran out meanwhile), and wakes reach it again;
   * `drained`: the claim found its agent drained (Waiter.drained).
   */
  giveBack(drained?: boolean): void;
}

export interface Notifier {
  register(agentId: string, labels: Record<string, string> | null): Waiter;
  /** Announces work locally, as a message on the channel would (tests, and other controllers' wakes). */
  deliver(message: string): void;
  /**
   * A line that heads what this controller publishes about work it queued itself: it wakes its own
   * waiters with deliver() as soon as the work is committed, and its subscriber skips the copy coming
   * back through Redis's pub/sub (every reader skips the line itself: it holds no tab).
   */
  readonly origin: string;
  /**
   * The claim waiting longest that could take work for `target` and can be claimed for (its claim is
   * set), held for the caller until it hands it a claim or gives it back.
   */
  take(target: string): TakenWaiter | undefined;
  /**
   * The platform drained an agent (its claims waiting here take no more wakes) or resumed it (they
   * take wakes again, and claim now rather than when their long-polls end).
   */
  drainChanged(agentId: string, drained: boolean): void;
  /** Wakes every waiter with nothing (shutdown): their claims answer empty at once. */
  releaseAll(): void;
  /**
   * The agents whose claims wait here now and could take work for `target` (`a:<id>`, `l:<k=v,...>` or
   * `*`): distinct, longest waiting first, at most `max`.
   */
  waitersFor(target: string, max?: number): string[];
  readonly waiting: number;
  close(): Promise<void>;
}

interface WaiterState extends Waiter {
  woken: boolean;
  /** Held by an enqueue (take); `lapsed`: its time ran out, or it was aborted or released, meanwhile. */
  taken: boolean;
  lapsed: boolean;
  /** A wait is pending. */
  readonly waiting: boolean;
  /** Ends the pending wait with `wake`. */
  end(wake: Wake): void;
  /** Targets ('*' for a wake without one) of the pending wake and of the last one a wait used: where a pass-on goes. */
  wokenFor: string;
  usedFor: string;
  wake(target?: string): void;
  gone: boolean;
}

/** `a:<agentId>` | `*` | `l:<k=v,k=v>` — who can take the announced jobs. */
function matches(target: string, w: WaiterState): boolean {
  if (target === '*') return true;
  if (target.startsWith('a:')) return target.slice(2) === w.agentId;
  if (!target.startsWith('l:')) return false;
  if (w.labels === null) return true;
  for (const pair of target.slice(2).split(',')) {
    const eq = pair.indexOf('=');
    if (w.labels[pair.slice(0, eq)] !== pair.slice(eq + 1)) return false;
  }
  return true;
}

export async function createNotifier(subscriber: RedisLike, channel: string, logger: Logger): Promise<Notifier> {
  // Heads this process's own announcements (a line without a tab: every reader skips it as a wake).
  const origin = `@${randomUUID()}\n`;
  // Insertion order is FIFO: the agent waiting longest is woken first.
  const waiters = new Set<WaiterState>();
  const byAgent = new Map<string, Set<WaiterState>>();
  let closed = false;

  /** The waiters that could take work for `target`: a job for one agent looks at that agent's alone, not at thousands of others. */
  const candidatesFor = (target: string): Iterable<WaiterState> => (target.startsWith('a:') ? (byAgent.get(target.slice(2)) ?? []) : waiters);
  /** Free to be woken for (or claimed for) work for `target`: not woken already, held, gone, or drained. */
  const wakeable = (w: WaiterState, target: string): boolean => !w.woken && !w.gone && !w.taken && !w.drained && matches(target, w);

  const deliver = (message: string): void => {
    for (const line of message.split('\n')) {
      const tab = line.indexOf('\t');
      if (tab < 0) continue;
      let count = Number(line.slice(0, tab));
      const target = line.slice(tab + 1);
      if (!(count > 0)) continue;
      for (const w of candidatesFor(target)) {
        if (count <= 0) break;
        if (!wakeable(w, target)) continue;
        w.wake(target);
        count--;
      }
    }
  };

  const onMessage = (ch: string, message: string): void => {
    if (ch === channel && !message.startsWith(origin)) deliver(message);
  };
  subscriber.on('message', onMessage);
  await subscriber.subscribe(channel);
  // ioredis reconnects (and resubscribes) by itself; say so once per outage, not once per retry.
  let down = false;
  subscriber.on('error', (err: Error) => {
    if (!down) logger.warn({ err: err.message }, 'wake subscriber lost Redis; reconnecting');
    down = true;
  });
  subscriber.on('ready', () => {
    if (down) {
      // Announcements made while we were away are lost: every waiter looks at the queues once more.
      logger.info('wake subscriber reconnected');
      for (const w of waiters) w.wake();
    }
    down = false;
  });

  const register = (agentId: string, labels: Record<string, string> | null): Waiter => {
    let resolveWait: ((wake: Wake) => void) | undefined;
    const w: WaiterState = {
      agentId,
      labels,
      claim: undefined,
      drained: false,
      woken: false,
      taken: false,
      lapsed: false,
      wokenFor: '*',
      usedFor: '*',
      gone: false,
      get waiting() {
        return resolveWait !== undefined;
      },
      end(wake) {
        resolveWait?.(wake);
      },
      wake(target = '*') {
        // Held by an enqueue (deliver skips it; shutdown and a resume get here): the enqueue's hand or giveBack ends it.
        if (w.taken) {
          w.lapsed = true;
          return;
        }
        if (resolveWait) {
          const r = resolveWait;
          resolveWait = undefined;
          w.usedFor = target;
          r(!closed);
          return;
        }
        w.woken = true;
        w.wokenFor = target;
      },
      wait(ms, signal) {
        if (w.woken || closed) {
          if (w.woken) w.usedFor = w.wokenFor;
          w.woken = false;
          return Promise.resolve(!closed);
        }
        return new Promise<Wake>((resolve) => {
          const done = (wake: Wake) => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            resolveWait = undefined;
            resolve(wake);
          };
          // While an enqueue claims for it, the claim's outcome decides how the wait ends.
          const onAbort = () => (w.taken ? (w.lapsed = true) : done(false));
          const timer = setTimeout(onAbort, ms);
          signal?.addEventListener('abort', onAbort, { once: true });
          resolveWait = done;
        });
      },
      dispose() {
        w.gone = true;
        waiters.delete(w);
        const mine = byAgent.get(agentId);
        mine?.delete(w);
        if (mine?.size === 0) byAgent.delete(agentId);
        // A wake this waiter took but never used passes on, so the announced job is not left waiting.
        if (w.woken) {
          w.woken = false;
          deliver(`1\t${w.wokenFor}`);
        }
      },
      handOff() {
        w.dispose();
        if (!closed) deliver(`1\t${w.usedFor}`);
      },
    };
    waiters.add(w);
    let mine = byAgent.get(agentId);
    if (!mine) byAgent.set(agentId, (mine = new Set()));
    mine.add(w);
    return w;
  };

  const take = (target: string): TakenWaiter | undefined => {
    for (const w of candidatesFor(target)) {
      const claim = w.claim;
      if (closed || !claim || !w.waiting || !wakeable(w, target)) continue;
      w.taken = true;
      return {
        agentId: w.agentId,
        claim,
        hand(reply) {
          w.taken = false;
          w.lapsed = false;
          // Nothing else is delivered to it: a wake for work still queued goes to the others.
          w.gone = true;
          w.end({ handed: reply });
        },
        giveBack(drained = false) {
          w.taken = false;
          w.drained = drained;
          if (w.lapsed || closed) {
            w.lapsed = false;
            w.end(false);
          }
        },
      };
    }
    return undefined;
  };

  const drainChanged = (agentId: string, drained: boolean): void => {
    for (const w of byAgent.get(agentId) ?? []) {
      if (w.drained === drained || w.gone) continue;
      w.drained = drained;
      if (!drained) w.wake();
    }
  };

  return {
    register,
    deliver,
    take,
    drainChanged,
    origin,
    waitersFor(target, max = 4) {
      const found = new Set<string>();
      for (const w of candidatesFor(target)) {
        if (found.size >= max) break;
        if (!w.gone && !w.drained && matches(target, w)) found.add(w.agentId);
      }
      return [...found];
    },
    releaseAll() {
      closed = true;
      for (const w of waiters) w.wake();
    },
    get waiting() {
      return waiters.size;
    },
    async close() {
      closed = true;
      for (const w of waiters) w.wake();
      subscriber.off('message', onMessage);
    },
  };
}
