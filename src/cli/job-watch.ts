// Follows one job to its end for the console: its state polled once a second, and (when asked) its log
// streamed from the controller as it is written, both riding out a controller restart.
import { StringDecoder } from 'node:string_decoder';
import type { PlatformJobsResource } from '../shared/client/platform-jobs.js';
import { FINAL_STATES, type JobView } from '../shared/protocol/job.js';
import { RETRY } from '../shared/retry-policy.js';
import { sleep, withRetry } from '../shared/retry.js';
import type { ProgressRenderer } from './job-progress.js';

export interface WatchOptions {
  platform: PlatformJobsResource;
  id: string;
  render: ProgressRenderer;
  /** Stream the job's log to the renderer as well. */
  log: boolean;
  pollMs?: number;
  /** Ctrl-C: stop watching (the job goes on). */
  signal?: AbortSignal | undefined;
}

export const isFinal = (job: JobView) => (FINAL_STATES as readonly string[]).includes(job.state);

/** Resolves with the job's final view once it has ended and, with `log`, all of its log was shown. */
export async function watchJob(o: WatchOptions): Promise<JobView> {
  // One stop for both loops: Ctrl-C, or the other loop failing (a job that vanished, a controller gone for good).
  const stop = new AbortController();
  const signal = stop.signal;
  const onOuterAbort = () => stop.abort(o.signal?.reason);
  if (o.signal?.aborted) stop.abort(o.signal.reason);
  o.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const retry = { ...RETRY.cliWait, signal };
  const aborted = () => signal.reason ?? new Error('aborted');
  let final: JobView | undefined;
  let finalSeen: () => void = () => {};
  const ended = new Promise<void>((resolve) => (finalSeen = resolve));

  const poll = async (): Promise<JobView> => {
    for (;;) {
      const job = await withRetry(() => o.platform.get(o.id), retry);
      o.render.job(job);
      if (isFinal(job)) {
        final = job;
        finalSeen();
        return job;
      }
      if (!(await sleep(o.pollMs ?? 1000, signal))) throw aborted();
    }
  };

  const stream = async (): Promise<void> => {
    const decoder = new StringDecoder('utf8');
    let offset = 0;
    for (;;) {
      // The signal aborts the request, not only our reading of it: a stream left open would hold the
      // connection pool's close (and so the exit after Ctrl-C) until the job ended.
      const body = await withRetry(() => o.platform.follow(o.id, offset, signal), retry);
      const onAbort = () => body.destroy();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          offset += chunk.length;
          o.render.log(decoder.write(chunk));
        }
      } catch (err) {
        if (signal.aborted) throw aborted();
        // The connection dropped (a controller restart): follow again from the byte we got to.
        if (!(await sleep(200, signal))) throw aborted();
        continue;
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
      // A follow ends when the job is final and its log drained; a controller that closed the stream
      // early for its own reasons is followed again.
      if (final) break;
      await Promise.race([ended, sleep(1000, signal)]);
      if (signal.aborted) throw aborted();
    }
    const rest = decoder.end();
    if (rest) o.render.log(rest);
  };

  const loops = [poll(), o.log ? stream() : Promise.resolve()] as const;
  for (const l of loops) void l.catch(() => stop.abort());
  try {
    const [job] = await Promise.all(loops);
    o.render.done(job);
    return job;
  } catch (err) {
    await Promise.allSettled(loops);
    throw err;
  } finally {
    o.signal?.removeEventListener('abort', onOuterAbort);
  }
}
