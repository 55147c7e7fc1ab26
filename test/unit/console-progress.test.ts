// What --wait prints for a job's life, off and on a terminal, from a scripted series of job views:
// regression for a CI log that got a line every 300 ms (36 for a 12 s job) because the elapsed time
// made every status "new".
import { describe, expect, it } from 'vitest';
import { describeProgress, liveRenderer, plainRenderer, progressKey } from '../../src/cli/job-progress.js';
import { createTerminal, fit, visible } from '../../src/cli/terminal.js';
import type { JobView } from '../../src/shared/protocol/job.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (s: number) => new Date(T0 + s * 1000).toISOString();

function view(over: Partial<JobView> & { at: number }): JobView {
  const { at: _at, ...rest } = over;
  return {
    id: 'J1',
    state: 'running',
    attempt: 1,
    maxAttempts: 3,
    agent: 'host-1',
    target: { labels: { role: 'web' } },
    priority: 0,
    steps: [
      { task: 'init', state: 'succeeded', exitCode: 0, startedAt: iso(0), finishedAt: iso(1) },
      { task: 'deploy', state: 'running', exitCode: null, startedAt: iso(1), finishedAt: null },
    ],
    createdAt: iso(0),
    startedAt: iso(0),
    finishedAt: null,
    error: null,
    cancelRequested: false,
    logBytes: 0,
    logTruncated: false,
    idempotencyKey: null,
    ...rest,
  };
}

/** A terminal stand-in: everything written, as one string. */
function sink(tty: boolean, env: NodeJS.ProcessEnv = {}) {
  let text = '';
  const err = { write: (s: string) => (text += s), isTTY: tty, columns: 60 };
  return { t: createTerminal({ write: () => true }, err, env), text: () => text };
}

/** An hour of polls once a second with a log line every ten seconds: what a long deploy looks like. */
function hourLongJob() {
  const polls: JobView[] = [view({ at: 0, state: 'queued', attempt: 0, agent: null, startedAt: null, steps: [] })];
  for (let s = 1; s <= 3600; s++) {
    const steps = view({ at: s }).steps.map((st, i) => (i === 1 && s < 1800 ? { ...st, state: 'pending' as const, startedAt: null } : i === 0 && s < 1800 ? { ...st, state: 'running' as const, finishedAt: null } : st));
    polls.push(view({ at: s, steps }));
  }
  return polls;
}

describe('progress off a terminal', () => {
  it('a line per change of state, step, agent or waiting reason, never per poll', () => {
    const { t, text } = sink(false);
    const r = plainRenderer(t);
    const polls = hourLongJob();
    polls.forEach((p, i) => {
      r.job(p);
      if (i % 10 === 0) r.log(`line ${i}\n`);
    });
    r.done(view({ at: 3600, state: 'succeeded', finishedAt: iso(3600) }));
    const lines = text().trimEnd().split('\n');
    const logLines = lines.filter((l) => l.startsWith('line '));
    expect(logLines).toHaveLength(361);
    expect(lines.length - logLines.length).toBeLessThanOrEqual(5);
    expect(lines.filter((l) => l.startsWith('job J1'))).toEqual([
      'job J1 queued',
      'job J1 running · step 1/2 init · on host-1',
      'job J1 running · step 2/2 deploy · on host-1',
      'job J1 succeeded in 1h00m',
    ]);
    expect(text()).not.toMatch(/[\r\x1b]/);
  });

  it('the elapsed time is not part of what counts as a change', () => {
    expect(progressKey(view({ at: 5 }))).toBe(progressKey(view({ at: 500, startedAt: iso(1) })));
    expect(progressKey(view({ at: 5 }))).not.toBe(progressKey(view({ at: 5, agent: 'host-2' })));
  });

  it('log text arriving in pieces comes out as whole lines; the last partial one at the end', () => {
    const { t, text } = sink(false);
    const r = plainRenderer(t);
    r.log('hel');
    r.log('lo\nwor');
    r.job(view({ at: 1 }));
    r.log('ld');
    r.done(view({ at: 2, state: 'failed', error: 'step 2/2 deploy exited with 3', finishedAt: iso(2) }));
    expect(text()).toBe('hello\njob J1 running · step 2/2 deploy · on host-1\nworld\njob J1 failed after 2.0s: step 2/2 deploy exited with 3\n');
  });

  it('says why a queued job waits', () => {
    const { t } = sink(false);
    const waiting = view({ at: 0, state: 'queued', attempt: 0, agent: null, waiting: { code: 'NO_MATCHING_AGENT', message: 'no registered agent has the labels role=web', selector: 'role=web' } });
    expect(describeProgress(waiting, t)).toBe('job J1 queued · waiting: no registered agent has the labels role=web (NO_MATCHING_AGENT)');
  });
});

describe('progress on a terminal', () => {
  it('redraws one status line in place, prints log lines above it, and fits the width', () => {
    const { t, text } = sink(true, { TERM: 'xterm' });
    const r = liveRenderer(t, { tickMs: 60_000, now: () => T0 + 12_300 });
    r.job(view({ at: 12 }));
    r.log('first\nsec');
    r.log('ond\n');
    r.done(view({ at: 13, state: 'succeeded', finishedAt: iso(13) }));
    const out = text();
    expect(out).toContain('\r\x1b[2K');
    // Each log line goes out whole, after the status line is erased, and the status is drawn again below it.
    expect(out).toContain('\r\x1b[2Kfirst\n');
    expect(out).toContain('\r\x1b[2Ksecond\n');
    expect(out).toMatch(/\x1b\[36mrunning\x1b\[39m/);
    for (const frame of out.split('\r\x1b[2K')) for (const l of frame.split('\n')) expect(visible(l).length).toBeLessThanOrEqual(60);
    expect(out.endsWith(`job J1 \x1b[32msucceeded\x1b[39m in 13.0s\n`)).toBe(true);
  });

  it('NO_COLOR (any value) turns colour off; the live line stays', () => {
    const { t, text } = sink(true, { TERM: 'xterm', NO_COLOR: '1' });
    const r = liveRenderer(t, { tickMs: 60_000 });
    r.job(view({ at: 1 }));
    r.done(view({ at: 2, state: 'succeeded', finishedAt: iso(2) }));
    expect(text()).toContain('\r\x1b[2K');
    expect(text()).not.toMatch(/\x1b\[\d+m/);
  });

  it('fit cuts to the visible width and keeps colour sequences whole', () => {
    expect(fit('short', 10)).toBe('short');
    expect(visible(fit('\x1b[36mrunning\x1b[39m and more text', 8))).toBe('running…');
    // Cut inside the colour: a reset after the ellipsis so the colour does not run into what follows.
    expect(fit('\x1b[36mrunning\x1b[39m and more text', 8)).toBe('\x1b[36mrunning…\x1b[0m');
  });
});
