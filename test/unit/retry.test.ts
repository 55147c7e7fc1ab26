// The retry primitive: what each failure means, the delays it computes (backoff, jitter, cap,
// Retry-After), the judge's verdicts, and an abort that ends a wait at once. Delays are checked on fake
// timers or through the numbers withRetry reports; nothing here measures wall-clock time.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ControllerError } from '../../src/shared/client/controller-http.js';
import { UpstreamError } from '../../src/shared/errors.js';
import { backoffMs, parseRetryAfter, retryDelayMs, withRetry, type RetryOptions } from '../../src/shared/retry.js';
import { decide, expectedOffset } from '../../src/shared/retry-policy.js';

const unavailable = (retryAfterMs?: number) => new ControllerError('REDIS_UNAVAILABLE', 'x', 503, undefined, retryAfterMs);
const stale = () => new ControllerError('STALE_EPOCH', 'x', 409);

/** A function that fails with `errors` in turn, then returns 'ok'; counts its calls. */
function failing(...errors: unknown[]) {
  const f = Object.assign(
    async () => {
      f.calls++;
      if (errors.length > 0) throw errors.shift();
      return 'ok';
    },
    { calls: 0 },
  );
  return f;
}

describe('decide', () => {
  it('classifies by code and status', () => {
    expect(decide(new UpstreamError('CONTROLLER_UNREACHABLE', 'down'))).toBe('retry');
    expect(decide(new ControllerError('HTTP_503', 'x', 503))).toBe('retry');
    expect(decide(new ControllerError('OVERLOADED', 'x', 429))).toBe('retry');
    expect(decide(new ControllerError('STALE_EPOCH', 'x', 409))).toBe('stale');
    expect(decide(new ControllerError('JOB_NOT_FOUND', 'x', 404))).toBe('stale');
    expect(decide(new ControllerError('AGENT_UNKNOWN', 'x', 404))).toBe('reregister');
    expect(decide(new ControllerError('LOG_OFFSET_GAP', 'x', 416, { expected: 12 }))).toBe('resync');
    expect(expectedOffset(new ControllerError('LOG_OFFSET_GAP', 'x', 416, { expected: 12 }))).toBe(12);
    expect(decide(new ControllerError('BAD_REQUEST', 'x', 400))).toBe('fail');
    expect(decide(new Error('plain'))).toBe('fail');
  });
});

describe('backoff', () => {
  const b = { baseMs: 100, capMs: 2_000 };

  it('jitters between half the base and a ceiling that doubles per failure', () => {
    expect([backoffMs(0, b, () => 0), backoffMs(0, b, () => 0.999_999)]).toEqual([50, 100]);
    expect([backoffMs(2, b, () => 0), backoffMs(2, b, () => 0.999_999)]).toEqual([50, 400]);
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) {
      const d = backoffMs(3, b);
      expect(d).toBeGreaterThanOrEqual(50);
      expect(d).toBeLessThanOrEqual(800);
      seen.add(d);
    }
    // Full jitter: agents failing together spread out instead of coming back in step.
    expect(seen.size).toBeGreaterThan(50);
  });

  it('never grows past the cap, however many failures', () => {
    for (const attempt of [5, 30, 1_000]) expect(backoffMs(attempt, b, () => 0.999_999)).toBe(2_000);
    expect(backoffMs(1_000, { baseMs: 200, capMs: 200 }, () => 0)).toBe(100);
  });
});

describe('Retry-After', () => {
  const now = Date.parse('2026-03-01T12:00:00Z');

  it('reads delay-seconds and the three HTTP date forms', () => {
    expect(parseRetryAfter('2', now)).toBe(2_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter(['7', '9'], now)).toBe(7_000);
    expect(parseRetryAfter('Sun, 01 Mar 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Sunday, 01-Mar-26 12:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Sun Mar  1 12:00:05 2026', now)).toBe(5_000); // asctime: GMT, not local time
    expect(parseRetryAfter('Sun, 01 Mar 2026 11:00:00 GMT', now)).toBe(0); // already past
  });

  it('ignores what is not a Retry-After', () => {
    for (const v of [undefined, '', '1.5', '-1', '2026-03-01T12:00:30Z', 'soon', 'Someday, never']) expect(parseRetryAfter(v, now)).toBeUndefined();
  });

  it('is a floor under the backoff, bounded by maxRetryAfterMs', () => {
    const b = { baseMs: 100, capMs: 1_000 };
    expect(retryDelayMs(unavailable(30_000), 0, b)).toBe(30_000);
    expect(retryDelayMs(unavailable(10), 3, b, () => 0.999_999)).toBe(800);
    expect(retryDelayMs(unavailable(3_600_000), 0, b)).toBe(60_000);
    expect(retryDelayMs(unavailable(3_600_000), 0, { ...b, maxRetryAfterMs: 5_000 })).toBe(5_000);
  });
});

describe('withRetry', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits what Retry-After asks, not the (shorter) backoff', async () => {
    const fn = failing(unavailable(30_000));
    const delays: number[] = [];
    const p = withRetry(fn, { backoff: { baseMs: 100, capMs: 1_000 }, onRetry: (_e, _a, ms) => delays.push(ms) });
    await vi.advanceTimersByTimeAsync(29_999);
    expect(fn.calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(p).resolves.toBe('ok');
    expect([fn.calls, delays]).toEqual([2, [30_000]]);
  });

  it('backs off under the cap while the failures go on', async () => {
    const fn = failing(...Array.from({ length: 12 }, () => unavailable()));
    const delays: number[] = [];
    const p = withRetry(fn, { backoff: { baseMs: 100, capMs: 1_000 }, onRetry: (_e, _a, ms) => delays.push(ms) });
    await vi.runAllTimersAsync();
    await expect(p).resolves.toBe('ok');
    expect(delays).toHaveLength(12);
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(50);
      expect(d).toBeLessThanOrEqual(Math.min(1_000, 100 * 2 ** i));
    });
  });

  it('an abort ends the wait at once and throws the failure, leaving no timer behind', async () => {
    const ac = new AbortController();
    const failure = unavailable();
    const fn = failing(failure, failure);
    let waiting!: () => void;
    const entered = new Promise<void>((r) => (waiting = r));
    const p = withRetry(fn, { backoff: { baseMs: 3_600_000, capMs: 3_600_000 }, signal: ac.signal, onRetry: () => waiting() });
    const outcome = p.then(
      () => 'resolved',
      (err: unknown) => err,
    );
    await entered;
    expect(vi.getTimerCount()).toBe(1);
    ac.abort();
    expect(await outcome).toBe(failure); // no fake time advanced: the wait ended on the abort itself
    expect(fn.calls).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not try again once aborted, nor ask the judge', async () => {
    const ac = new AbortController();
    ac.abort();
    const judge = vi.fn<NonNullable<RetryOptions['judge']>>(() => 'retry');
    const fn = failing(unavailable());
    await expect(withRetry(fn, { signal: ac.signal, judge })).rejects.toMatchObject({ code: 'REDIS_UNAVAILABLE' });
    expect([fn.calls, judge.mock.calls.length]).toEqual([1, 0]);
  });

  it('by default retries transient failures and gives up on anything else', async () => {
    const transient = failing(unavailable(), new UpstreamError('CONTROLLER_UNREACHABLE', 'down'));
    const p = withRetry(transient);
    await vi.runAllTimersAsync();
    await expect(p).resolves.toBe('ok');
    expect(transient.calls).toBe(3);
    const refused = failing(stale());
    await expect(withRetry(refused)).rejects.toMatchObject({ code: 'STALE_EPOCH' });
    expect(refused.calls).toBe(1);
  });

  it("follows the judge: retry-now without waiting, give-up with the error, another schedule, afresh", async () => {
    const seen: Array<[string, number]> = [];
    const delays: number[] = [];
    const fn = failing(
      new ControllerError('AGENT_UNKNOWN', 'x', 404),
      unavailable(),
      unavailable(),
      new ControllerError('PROGRESS', 'x', 503),
      unavailable(),
      stale(),
    );
    const p = withRetry(fn, {
      backoff: { baseMs: 100, capMs: 100 },
      onRetry: (_e, _a, ms) => delays.push(ms),
      // Async, as a judge that registers again before answering is.
      judge: async (err, attempt) => {
        const code = (err as ControllerError).code;
        seen.push([code, attempt]);
        if (code === 'AGENT_UNKNOWN') return 'retry-now';
        if (code === 'STALE_EPOCH') return 'give-up';
        if (code === 'PROGRESS') return { retry: { baseMs: 10_000, capMs: 10_000 }, afresh: true };
        return attempt >= 2 ? { retry: { baseMs: 1_000, capMs: 1_000 } } : 'retry';
      },
    });
    const outcome = p.catch((err: unknown) => err);
    // retry-now: the second call happens with no timer at all.
    await vi.advanceTimersByTimeAsync(0);
    expect(fn.calls).toBe(2);
    await vi.runAllTimersAsync();
    expect(await outcome).toMatchObject({ code: 'STALE_EPOCH' });
    expect(fn.calls).toBe(6);
    // afresh counts the failure after PROGRESS as the first again.
    expect(seen).toEqual([
      ['AGENT_UNKNOWN', 0],
      ['REDIS_UNAVAILABLE', 1],
      ['REDIS_UNAVAILABLE', 2],
      ['PROGRESS', 3],
      ['REDIS_UNAVAILABLE', 1],
      ['STALE_EPOCH', 2],
    ]);
    expect(delays).toHaveLength(4);
    expect(delays[0]).toBeLessThanOrEqual(100);
    expect(delays[1]).toBeGreaterThanOrEqual(500); // { retry } on the judge's schedule
    expect(delays[2]).toBeGreaterThanOrEqual(5_000);
    expect(delays[3]).toBeLessThanOrEqual(100);
  });

  it('gives up after maxAttempts failures in a row', async () => {
    const fn = failing(unavailable(), unavailable(), unavailable());
    const p = withRetry(fn, { backoff: { baseMs: 10, capMs: 10 }, maxAttempts: 2 }).catch((err: unknown) => err);
    await vi.runAllTimersAsync();
    expect(await p).toMatchObject({ code: 'REDIS_UNAVAILABLE' });
    expect(fn.calls).toBe(2);
  });
});
