// A figure's overall deadline: every wait inside it is capped by what is left, and when it passes the
// figure's teardown runs at once, so a browser call or a request still waiting fails instead of hanging.

export class DeadlineExceeded extends Error {
  override name = 'DeadlineExceeded';
}

export class Deadline {
  private readonly at: number;
  /** What the figure is doing, named in the error when the deadline passes. */
  phase = 'starting';

  constructor(readonly totalMs: number) {
    this.at = Date.now() + totalMs;
  }

  /** Milliseconds left, at most `capMs`; throws once none are left (a wait of 0 would mean "forever" to some APIs). */
  left(capMs = Number.POSITIVE_INFINITY): number {
    const ms = this.at - Date.now();
    if (ms <= 0) throw this.expiredError();
    return Math.max(1, Math.min(capMs, ms));
  }

  /** Whether the deadline has passed, or is so near that a wait capped by it ended because of it. */
  over(): boolean {
    return Date.now() >= this.at - 250;
  }

  expiredError(cause?: unknown): DeadlineExceeded {
    return new DeadlineExceeded(`passed its ${Math.round(this.totalMs / 1000)} s deadline while ${this.phase}`, { cause });
  }

  /** `work`, or a rejection after `capMs` (or the deadline, if sooner): for a call that takes no timeout itself. */
  async bound<T>(what: string, work: Promise<T>, capMs: number): Promise<T> {
    const ms = this.left(capMs);
    let timer: NodeJS.Timeout | undefined;
    // The loser's rejection is expected (teardown closes what it waits on): never unhandled.
    work.catch(() => undefined);
    try {
      return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)))]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Runs `run` under a deadline of `totalMs`. Past it, `onExpire` (the figure's teardown) runs while `run`
 * may still be waiting, and the call rejects with DeadlineExceeded naming the phase it was in.
 */
export async function withDeadline<T>(totalMs: number, run: (d: Deadline) => Promise<T>, onExpire: () => Promise<void>): Promise<T> {
  const d = new Deadline(totalMs);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = d.expiredError();
      void onExpire().finally(() => reject(err));
    }, totalMs);
  });
  const work = run(d);
  work.catch(() => undefined);
  try {
    return await Promise.race([work, expired]);
  } catch (err) {
    // A wait capped by the deadline fails a moment before the timer above: say it was the deadline.
    if (!(err instanceof DeadlineExceeded) && d.over()) throw d.expiredError(err);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What a figure started, stopped in the reverse order of starting, each stop capped so one that hangs
 * cannot keep the others (or the run) waiting. Safe to call twice: the deadline and the figure's finally
 * may both call it.
 */
export class Teardown {
  private readonly steps: { what: string; stop: () => Promise<unknown> }[] = [];
  private done: Promise<string[]> | undefined;

  /** Something to stop; added after the teardown ran (it came up while the deadline passed), it is stopped at once. */
  add(what: string, stop: () => Promise<unknown>): void {
    if (this.done) void this.done.then(() => stop()).catch(() => undefined);
    else this.steps.push({ what, stop });
  }

  /** Stops everything; answers what failed to stop (it was then left to the run's own kill of leftovers). */
  run(capMs = 15_000): Promise<string[]> {
    this.done ??= (async () => {
      const failed: string[] = [];
      for (const s of [...this.steps].reverse()) {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([s.stop(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`still stopping after ${capMs} ms`)), capMs)))]);
        } catch (err) {
          failed.push(`${s.what}: ${(err as Error).message}`);
        } finally {
          clearTimeout(timer);
        }
      }
      return failed;
    })();
    return this.done;
  }
}
