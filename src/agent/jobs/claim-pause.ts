// Pausing the agent's claims (self-update in drain mode): no new claim starts while paused, and a pause
// completes only once no claim is in flight, so nothing claimed afterwards can start a job.
export interface ClaimPause {
  readonly paused: boolean;
  /** Stops new claims; resolves once every claim in flight has returned and handed its jobs over. */
  pause(): Promise<void>;
  /** Claims again; the claim loop waiting in `gate()` goes on. */
  resume(): void;
  /** Resolves at once when not paused, else on resume() or open() (the loop then re-checks why it woke). */
  gate(): Promise<void>;
  /** Runs one claim, from its request until its jobs are started, as "in flight" for pause(). */
  during<T>(claim: () => Promise<T>): Promise<T>;
  /** Lets every gate waiter through for good-bye (drain or stop), without ending the pause. */
  open(): void;
}

export function createClaimPause(): ClaimPause {
  let paused = false;
  let inFlight = 0;
  let gateWaiters: Array<() => void> = [];
  let idleWaiters: Array<() => void> = [];
  const release = (list: Array<() => void>) => {
    for (const r of list) r();
  };
  const open = () => {
    const w = gateWaiters;
    gateWaiters = [];
    release(w);
  };
  return {
    get paused() {
      return paused;
    },
    pause() {
      paused = true;
      if (inFlight === 0) return Promise.resolve();
      return new Promise<void>((r) => idleWaiters.push(r));
    },
    resume() {
      paused = false;
      open();
    },
    gate() {
      if (!paused) return Promise.resolve();
      return new Promise<void>((r) => gateWaiters.push(r));
    },
    async during(claim) {
      inFlight++;
      try {
        return await claim();
      } finally {
        // Handed over synchronously after the jobs started (the caller's claim() ends with that), so
        // pause() resolving means running() already counts them.
        if (--inFlight === 0) {
          const w = idleWaiters;
          idleWaiters = [];
          release(w);
        }
      }
    },
    open,
  };
}
