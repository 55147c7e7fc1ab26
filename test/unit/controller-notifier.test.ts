// Wake-up routing: an announcement wakes only matching waiters, and only as many as jobs announced.
import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import type { RedisLike } from '../../controller/src/commands.js';
import type { ScriptReply } from '../../controller/src/script-contracts.js';
import { createNotifier, type Wake, type WaiterClaim } from '../../controller/src/wake-hub.js';
import { silentLogger } from '../../src/shared/log.js';

/** The notifier needs only subscribe + message events from its connection. */
function fakeSubscriber(): RedisLike {
  const ee = new EventEmitter() as EventEmitter & { subscribe: () => Promise<number> };
  ee.subscribe = async () => 1;
  return ee as unknown as RedisLike;
}

const settled = async (p: Promise<Wake>): Promise<Wake | 'pending'> => Promise.race([p, new Promise<'pending'>((r) => setImmediate(() => r('pending')))]);

describe('notifier', () => {
  it('wakes as many matching waiters as jobs were announced, oldest first', async () => {
    const sub = fakeSubscriber();
    const n = await createNotifier(sub, 'ch', silentLogger());
    const ws = [n.register('a1', { os: 'linux' }), n.register('a2', { os: 'linux' }), n.register('a3', { os: 'bsd' })];
    const waits = ws.map((w) => w.wait(60_000));
    (sub as unknown as EventEmitter).emit('message', 'ch', '1\tl:os=linux');
    expect(await Promise.all(waits.map(settled))).toEqual([true, 'pending', 'pending']);
    n.deliver('5\ta:a3');
    expect(await settled(waits[2]!)).toBe(true);
    expect(await settled(waits[1]!)).toBe('pending');
    n.deliver('2\t*');
    expect(await settled(waits[1]!)).toBe(true);
    for (const w of ws) w.dispose();
    expect(n.waiting).toBe(0);
    await n.close();
  });

  it("skips its own announcements coming back over the channel (delivered locally already), not another controller's", async () => {
    const sub = fakeSubscriber();
    const n = await createNotifier(sub, 'ch', silentLogger());
    const other = await createNotifier(fakeSubscriber(), 'ch', silentLogger());
    expect(n.origin).not.toBe(other.origin);
    const w = n.register('a1', null);
    const wait = w.wait(60_000);
    (sub as unknown as EventEmitter).emit('message', 'ch', `${n.origin}1\ta:a1`);
    expect(await settled(wait)).toBe('pending');
    (sub as unknown as EventEmitter).emit('message', 'ch', `${other.origin}1\ta:a1`);
    expect(await settled(wait)).toBe(true);
    w.dispose();
    await n.close();
    await other.close();
  });

  it('remembers a wake that came while the claim was running; times out and aborts to false', async () => {
    const n = await createNotifier(fakeSubscriber(), 'ch', silentLogger());
    const w = n.register('a1', null);
    n.deliver('1\tl:any=thing'); // labels unknown yet: any selector may concern it
    expect(await w.wait(60_000)).toBe(true);
    expect(await w.wait(5)).toBe(false);
    const ac = new AbortController();
    const p = w.wait(60_000, ac.signal);
    ac.abort();
    expect(await p).toBe(false);
    w.dispose();
    await n.close();
  });

  it('a waiter handing off its wake (silent agent) passes it to a waiter for the same work', async () => {
    const n = await createNotifier(fakeSubscriber(), 'ch', silentLogger());
    const silent = n.register('a1', { os: 'linux' });
    const other = n.register('a2', { os: 'bsd' });
    const live = n.register('a3', { os: 'linux' });
    const [ws, wo, wl] = [silent.wait(60_000), other.wait(60_000), live.wait(60_000)];
    n.deliver('1\tl:os=linux');
    expect(await settled(ws)).toBe(true);
    expect(await settled(wl)).toBe('pending');
    silent.handOff();
    expect(await settled(wl)).toBe(true);
    expect(await settled(wo)).toBe('pending');
    expect(n.waiting).toBe(2);
    other.dispose();
    live.dispose();
    await n.close();
  });

  it('releases every waiter on shutdown without a job', async () => {
    const n = await createNotifier(fakeSubscriber(), 'ch', silentLogger());
    const w = n.register('a1', {});
    const p = w.wait(60_000);
    n.releaseAll();
    expect(await p).toBe(false);
    w.dispose();
    await n.close();
  });

  it('names the agents whose waiting claims could take work for a target: distinct, oldest first, at most max', async () => {
    const n = await createNotifier(fakeSubscriber(), 'ch', silentLogger());
    const ws = [n.register('a1', { os: 'linux' }), n.register('a2', { os: 'bsd' }), n.register('a1', { os: 'linux' }), n.register('a3', null), n.register('a4', { os: 'linux' })];
    expect(n.waitersFor('l:os=linux')).toEqual(['a1', 'a3', 'a4']);
    expect(n.waitersFor('l:os=linux', 2)).toEqual(['a1', 'a3']);
    expect(n.waitersFor('a:a2')).toEqual(['a2']);
    expect(n.waitersFor('a:nobody')).toEqual([]);
    expect(n.waitersFor('*')).toEqual(['a1', 'a2', 'a3', 'a4']);
    ws[1]!.dispose();
    expect(n.waitersFor('a:a2')).toEqual([]);
    for (const w of ws) w.dispose();
    expect(n.waitersFor('*')).toEqual([]);
    await n.close();
  });

  it('spends no wake on a drained agent; drainChanged flags its waiting claims, and a resume wakes them', async () => {
    const n = await createNotifier(fakeSubscriber(), 'ch', silentLogger());
    const [d, live] = [n.register('d1', { os: 'linux' }), n.register('l1', { os: 'linux' })];
    d.drained = true;
    const [wd, wl] = [d.wait(60_000), live.wait(60_000)];
    expect(n.waitersFor('l:os=linux')).toEqual(['l1']);
    n.deliver('1\tl:os=linux');
    expect(await settled(wl)).toBe(true);
    expect(await settled(wd)).toBe('pending');
    n.drainChanged('d1', false);
    expect(await wd).toBe(true);
    const again = d.wait(60_000);
    n.drainChanged('d1', true);
    n.deliver('1\ta:d1');
    expect(await settled(again)).toBe('pending');
    d.dispose();
    live.dispose();
    await n.close();
  });

  describe('take: an enqueue claiming for a waiting claim itself', () => {
    const claimOf = (agentId: string): WaiterClaim => ({
      claimId: `c-${agentId}`,
      args: { agentId, max: 1, memoTtlMs: 1000, reapLimit: 1, wakeChannel: 'ch', woken: true, retentionSec: 60, logCapBytes: 1024, credentialHash: 'h' },
    });
    const reply: ScriptReply<'claim'> = { now: 1, labels: {}, leaseMs: 1000, jobs: [] };

    it('takes the oldest waiting claim that has its claim set and matches; wakes pass it by until it is handed or given back', async () => {
      const n = await createNotifier(fakeSubscriber(), 'ch', silentLogger());
      const [bare, a1, a2] = [n.register('a0', { os: 'linux' }), n.register('a1', { os: 'linux' }), n.register('a2', { os: 'linux' })];
      a1.claim = claimOf('a1');
      a2.claim = claimOf('a2');
      expect(n.take('l:os=linux')).toBeUndefined(); // nobody waits yet
      const [wBare, w1, w2] = [bare.wait(60_000), a1.wait(60_000), a2.wait(60_000)];
      expect(n.take('l:os=bsd')).toBeUndefined();
      const t1 = n.take('l:os=linux')!;
      expect(t1.agentId).toBe('a1');
      expect(t1.claim.claimId).toBe('c-a1');
      // Held: the next take and wakes go to others.
      expect(n.take('l:os=linux')!.agentId).toBe('a2');
      n.deliver('1\tl:os=linux');
      expect(await settled(wBare)).toBe(true);
      expect(await settled(w1)).toBe('pending');
      t1.hand(reply);
      expect(await w1).toEqual({ handed: reply });
      // Handed: no later wake is spent on it.
      n.deliver('1\ta:a1');
      expect(n.waitersFor('a:a1')).toEqual([]);
      expect(await settled(w2)).toBe('pending');
      for (const w of [bare, a1, a2]) w.dispose();
      await n.close();
    });

    it('a claim given back waits on and wakes reach it; one whose time ran out while held ends false when given back', async () => {
      const n = await createNotifier(fakeSubscriber(), 'ch', silentLogger());
      const w = n.register('a1', null);
      w.claim = claimOf('a1');
      let wait = w.wait(60_000);
      n.take('a:a1')!.giveBack();
      expect(await settled(wait)).toBe('pending');
      n.deliver('1\ta:a1');
      expect(await wait).toBe(true);

      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      try {
        wait = w.wait(20);
        const held = n.take('*')!;
        // Its 20 ms pass while held: the wait does not end until the enqueue says how its claim went.
        vi.advanceTimersByTime(50);
        expect(await settled(wait)).toBe('pending');
        held.giveBack();
        expect(await wait).toBe(false);
      } finally {
        vi.useRealTimers();
      }

      const ac = new AbortController();
      wait = w.wait(60_000, ac.signal);
      const held2 = n.take('*')!;
      ac.abort();
      expect(await settled(wait)).toBe('pending');
      held2.hand(reply);
      expect(await wait).toEqual({ handed: reply });
      w.dispose();
      await n.close();
    });
  });
});
