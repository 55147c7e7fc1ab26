// Step progress: in order, one at a time, an unsent update replaced by a newer one, nothing after close.
import { describe, expect, it } from 'vitest';
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
});
