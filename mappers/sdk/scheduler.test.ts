import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Clock } from './clock.ts';
import { LinkScheduler, type PollJob } from './scheduler.ts';

/** Time moved by hand; counts the timers alive at once. */
class FakeClock implements Clock {
  t = 0;
  #id = 0;
  readonly timers = new Map<number, { at: number; fn: () => void }>();
  maxActive = 0;
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): unknown {
    this.timers.set(++this.#id, { at: this.t + ms, fn });
    this.maxActive = Math.max(this.maxActive, this.timers.size);
    return this.#id;
  }
  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    for (;;) {
      await settle();
      const next = [...this.timers].sort((a, b) => a[1].at - b[1].at)[0];
      if (!next || next[1].at > target) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = target;
    await settle();
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('one timer per link, whatever the number of devices and requests', async () => {
  const clock = new FakeClock();
  const s = new LinkScheduler({ key: 'tcp:plc', clock, maxInFlight: 2 });
  const runs = new Map<string, number>();
  for (const dev of ['a', 'b', 'c']) {
    const jobs: PollJob[] = [100, 100, 250, 400, 1000].map((interval, i) => ({
      interval,
      run: async () => { runs.set(`${dev}${i}`, (runs.get(`${dev}${i}`) ?? 0) + 1); },
    }));
    s.addDevice(dev, jobs, 5000);
  }
  await clock.advance(2000);
  s.close();
  assert.equal(clock.maxActive, 1);
  assert.equal(clock.timers.size, 0, 'close leaves no timer');
  assert.equal(runs.get('a0'), 21, 'a 100 ms request runs at 0, 100, ..., 2000');
  assert.equal(runs.get('c4'), 3, 'a 1000 ms request runs at 0, 1000, 2000');
});

test('round-robin: a device with one request is not starved by a neighbour with twenty', async () => {
  const clock = new FakeClock();
  const s = new LinkScheduler({ key: 'serial:/dev/ttyUSB0', clock, maxInFlight: 1 });
  const order: string[] = [];
  const job = (name: string): PollJob => ({ interval: 1000, run: async () => { order.push(name); } });
  s.addDevice('big', Array.from({ length: 20 }, (_, i) => job(`big${i}`)), 5000);
  s.addDevice('small', [job('small')], 5000);
  await clock.advance(0);
  s.close();
  assert.equal(order.length, 21);
  assert.equal(order.indexOf('small'), 1, `the small device should get the second slot: ${order.join(' ')}`);
});

test('never more than maxInFlight requests on the wire', async () => {
  const clock = new FakeClock();
  const s = new LinkScheduler({ key: 'tcp:plc', clock, maxInFlight: 3 });
  let inFlight = 0;
  let peak = 0;
  const release: (() => void)[] = [];
  const job: PollJob = {
    interval: 100,
    run: () => new Promise<void>((resolve) => {
      peak = Math.max(peak, ++inFlight);
      release.push(() => { inFlight--; resolve(); });
    }),
  };
  s.addDevice('a', [job, job, job, job, job], 5000);
  s.addDevice('b', [job, job, job], 5000);
  for (let i = 0; i < 10; i++) {
    await clock.advance(50);
    release.splice(0, 2).forEach((r) => r());
  }
  s.close();
  assert.equal(peak, 3);
});

test('a request that does not answer is aborted with ETIMEDOUT and frees its slot', async () => {
  const clock = new FakeClock();
  const s = new LinkScheduler({ key: 'tcp:plc', clock, maxInFlight: 1 });
  let reason: unknown;
  let secondRan = false;
  s.addDevice('stuck', [{ interval: 10_000, run: (signal) => new Promise<void>(() => signal.addEventListener('abort', () => { reason = signal.reason; })) }], 500);
  s.addDevice('next', [{ interval: 10_000, run: async () => { secondRan = true; } }], 500);
  await clock.advance(499);
  assert.equal(secondRan, false, 'the link is busy with the stuck request');
  await clock.advance(1);
  s.close();
  assert.equal((reason as { code?: string }).code, 'ETIMEDOUT');
  assert.equal(secondRan, true);
});

test('lateness is measured from the due time to the start', async () => {
  const clock = new FakeClock();
  const late: [string, number][] = [];
  const s = new LinkScheduler({ key: 'tcp:plc', clock, maxInFlight: 1, onLateness: (d, ms) => late.push([d, ms]) });
  const slow: PollJob = { interval: 1000, run: () => new Promise<void>((resolve) => clock.setTimer(resolve, 40)) };
  s.addDevice('a', [slow], 5000);
  s.addDevice('b', [slow], 5000);
  await clock.advance(100);
  s.close();
  assert.deepEqual(late, [['a', 0], ['b', 40]]);
});

test('submitted requests (writes) go ahead of due polls, in the device turn', async () => {
  const clock = new FakeClock();
  const s = new LinkScheduler({ key: 'tcp:plc', clock, maxInFlight: 1 });
  const order: string[] = [];
  let release!: () => void;
  s.addDevice('a', [{ interval: 1000, run: () => new Promise<void>((r) => { order.push('poll-a'); release = r; }) }, { interval: 1000, run: async () => { order.push('poll-a2'); } }], 5000);
  const written = s.submit('a', async () => { order.push('write-a'); return 'ok'; });
  release();
  assert.equal(await written, 'ok');
  await clock.advance(0);
  s.close();
  assert.deepEqual(order, ['poll-a', 'write-a', 'poll-a2']);
});

test('removing a device cancels its queued work and leaves the others running', async () => {
  const clock = new FakeClock();
  const s = new LinkScheduler({ key: 'tcp:plc', clock, maxInFlight: 1 });
  let bRuns = 0;
  s.addDevice('a', [{ interval: 100, run: () => new Promise<void>(() => undefined) }], 5000);
  s.addDevice('b', [{ interval: 100, run: async () => { bRuns++; } }], 5000);
  const pending = s.submit('a', async () => 'never');
  s.removeDevice('a');
  await assert.rejects(pending, { code: 'ECANCELED' });
  await clock.advance(300);
  s.close();
  assert.equal(bRuns, 4);
  await assert.rejects(s.submit('a', async () => 1), { code: 'ENOTCONN' });
});

test('polls that fell due together are spread over the cycle, so later cycles start on time', async () => {
  const clock = new FakeClock();
  const late: number[] = [];
  const s = new LinkScheduler({ key: 'tcp:plc', clock, maxInFlight: 1, onLateness: (_d, ms) => late.push(ms) });
  const slow: PollJob = { interval: 1000, run: () => new Promise<void>((resolve) => clock.setTimer(resolve, 40)) };
  for (const d of ['a', 'b', 'c', 'd']) s.addDevice(d, [slow], 5000);
  await clock.advance(3500);
  s.close();
  assert.deepEqual(late.slice(0, 4), [0, 40, 80, 120], 'the first cycle queues');
  assert.ok(late.length >= 14, `polls in 3.5 cycles: ${late.length}`);
  assert.deepEqual(late.slice(4), late.slice(4).map(() => 0), 'later cycles start on time');
});

test('stats: requests started, failed polls counted, time with a request on the wire, lateness p99', async () => {
  const clock = new FakeClock();
  const s = new LinkScheduler({ key: 'tcp:plc:502', clock });
  // Each poll holds the wire 30 ms of every 100 ms.
  const job: PollJob = { interval: 100, run: () => new Promise((resolve) => clock.setTimer(() => resolve(undefined), 30)) };
  s.addDevice('d', [job], 1000);
  await clock.advance(1000);
  const st = s.stats();
  assert.ok(st.requests >= 10 && st.requests <= 11, `requests ${st.requests}`);
  assert.ok(Math.abs(st.busyMs - st.requests * 30) <= 30, `busy ${st.busyMs} ms for ${st.requests} requests of 30 ms`);
  assert.equal(st.latenessP99Ms, 0, 'a fake clock is never late');
  assert.equal(st.errors, 0);
  s.countError();
  assert.equal(s.stats().errors, 1);
  s.close();
});
