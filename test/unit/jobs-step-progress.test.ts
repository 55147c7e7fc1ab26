// Step progress: in order, one at a time, an unsent update replaced by a newer one, nothing after close;
// a transient failure tried again a few times unless newer news for that step waits.
import { describe, expect, it, vi } from 'vitest';
import { ControllerError } from '../../src/shared/client/controller-http.js';
import { createStepProgress, type StepProgressUpdate } from '../../src/agent/jobs/step-progress.js';
import { silentLogger } from '../../src/shared/log.js';

describe('step progress', () => {
  it('sends in order, coalesces what waits, drops what is unsent at close', async () => {
    const sent: string[] = [];
    let release: () => void = () => undefined;
    const progress = createStepProgress(
      (u) => {
        sent.push(`${u.index}:${u.state}`);
        return new Promise<void>((r) => (release = r));
      },
      () => undefined,
      silentLogger(),
    );
    const u = (index: number, state: StepProgressUpdate['state']): StepProgressUpdate => ({ index, state });
    progress.report(u(0, 'running')); // in flight
    progress.report(u(0, 'succeeded')); // waits
    progress.report(u(1, 'running')); // waits
    progress.report(u(1, 'failed')); // replaces step 1's waiting update
    release();
    await new Promise((r) => setImmediate(r));
    release();
    await new Promise((r) => setImmediate(r));
    expect(sent).toEqual(['0:running', '0:succeeded', '1:failed']);
    release(); // 1:failed answered; nothing waits
    await new Promise((r) => setImmediate(r));
    progress.report(u(2, 'running')); // in flight at once
    progress.report(u(2, 'succeeded')); // waits, then is dropped by close
    progress.close();
    progress.report(u(3, 'running')); // after close: ignored
    release();
    await new Promise((r) => setImmediate(r));
    expect(sent).toEqual(['0:running', '0:succeeded', '1:failed', '2:running']);
  });

  it('a stale epoch on an update stops the job', async () => {
    let stale = 0;
    const progress = createStepProgress(async () => {
      throw new ControllerError('STALE_EPOCH', 'x', 409);
    }, () => stale++, silentLogger());
    progress.report({ index: 0, state: 'running' });
    await new Promise((r) => setImmediate(r));
    expect(stale).toBe(1);
  });

  describe('retries', () => {
    const down = () => new ControllerError('REDIS_UNAVAILABLE', 'x', 503);

    it('tries a transient failure again, a few times at most', async () => {
      vi.useFakeTimers();
      try {
        const sent: string[] = [];
        let failures = 1;
        const progress = createStepProgress(async (u) => {
          sent.push(`${u.index}:${u.state}`);
          if (failures-- > 0) throw down();
        }, () => undefined, silentLogger());
        progress.report({ index: 0, state: 'running' });
        await vi.runAllTimersAsync();
        expect(sent).toEqual(['0:running', '0:running']);
        failures = 10;
        progress.report({ index: 1, state: 'running' });
        await vi.runAllTimersAsync();
        expect(sent.filter((s) => s === '1:running')).toHaveLength(3);
        progress.close();
      } finally {
        vi.useRealTimers();
      }
    });

    it('sends the newer news for a step instead of retrying the old', async () => {
      vi.useFakeTimers();
      try {
        const sent: string[] = [];
        let failures = 1;
        const progress = createStepProgress(async (u) => {
          sent.push(`${u.index}:${u.state}`);
          if (failures-- > 0) {
            progress.report({ index: 0, state: 'succeeded' }); // arrives while the first is on the wire
            throw down();
          }
        }, () => undefined, silentLogger());
        progress.report({ index: 0, state: 'running' });
        await vi.runAllTimersAsync();
        expect(sent).toEqual(['0:running', '0:succeeded']);
        progress.close();
      } finally {
        vi.useRealTimers();
      }
    });

    it('close drops an update waiting to be retried, at once', async () => {
      vi.useFakeTimers();
      try {
        const sent: string[] = [];
        const progress = createStepProgress(async (u) => {
          sent.push(`${u.index}:${u.state}`);
          throw down();
        }, () => undefined, silentLogger());
        progress.report({ index: 0, state: 'running' });
        await vi.advanceTimersByTimeAsync(0);
        expect(vi.getTimerCount()).toBe(1); // the retry's wait
        progress.close();
        await vi.advanceTimersByTimeAsync(0);
        expect(vi.getTimerCount()).toBe(0);
        expect(sent).toEqual(['0:running']);
      } finally {
        vi.useRealTimers();
      }
    });
  });
});
