// Counts the agent's job slots (HTTPAGENT_CONCURRENCY): a slot is taken by a running job or reserved by
// a claim in flight, so claims never ask for more jobs than the agent can start at once.
export interface SlotPool {
  readonly capacity: number;
  readonly free: number;
  /** Takes every free slot (for a claim's `max`); 0 when none. */
  reserveAll(): number;
  release(n: number): void;
  /** Resolves when a slot is free or `cancelled()` turns true after a wake-up. */
  waitFree(): Promise<void>;
  /** Wakes every waiter (to notice a drain). */
  wake(): void;
}

export function createSlotPool(capacity: number): SlotPool {
  let free = capacity;
  let waiters: Array<() => void> = [];
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const r of w) r();
  };
  return {
    capacity,
    get free() {
      return free;
    },
    reserveAll() {
      const n = free;
      free = 0;
      return n;
    },
    release(n) {
      if (n <= 0) return;
      free = Math.min(capacity, free + n);
      wake();
    },
    waitFree() {
      if (free > 0) return Promise.resolve();
      return new Promise((resolve) => waiters.push(resolve));
    },
    wake,
  };
}
