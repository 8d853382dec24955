import { describe, expect, it } from 'vitest';
import {
  Arrivals,
  PaceTimeout,
  batchGates,
  clientGates,
  parsePace,
  runSchedule,
  startOffset,
  type Clock,
  type Timed,
} from '../../src/replay/pacing.js';
import { UsageError } from '../../src/errors.js';

/** A virtual clock: sleeping moves time forward at once, so the schedule's waits are exact and instant. */
class VirtualClock implements Clock {
  t = 1000;
  now(): number {
    return this.t;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    // Let pending arrivals settle first, so a reached wait wins over its timeout.
    for (let i = 0; i < 5; i++) await Promise.resolve();
    if (signal?.aborted) return;
    this.t += Math.max(0, ms);
  }
}

const captured: Timed[] = [
  { at: 0, before: 0 },
  { at: 250, before: 1 },
  { at: 1250, before: 1 },
  { at: 4000, before: 3 },
];

async function sendTimes(pace: ReturnType<typeof parsePace>, steps: readonly Timed[]): Promise<number[]> {
  const clock = new VirtualClock();
  const other = new Arrivals(clock);
  const startedAt = clock.now();
  const times: number[] = [];
  await runSchedule({
    steps,
    gates: clientGates(steps, pace),
    other,
    timeoutMs: 10_000,
    startedAt,
    run: () => {
      times.push(clock.now() - startedAt);
      // The server answers each message at once.
      other.arrived();
    },
  });
  return times;
}

describe('parsePace', () => {
  it('accepts the modes and factors', () => {
    expect(parsePace('original')).toEqual({ kind: 'original' });
    expect(parsePace('fast')).toEqual({ kind: 'fast' });
    expect(parsePace('reactive')).toEqual({ kind: 'reactive' });
    expect(parsePace('2x')).toEqual({ kind: 'factor', factor: 2 });
    expect(parsePace('0.5x')).toEqual({ kind: 'factor', factor: 0.5 });
    expect(parsePace('1x')).toEqual({ kind: 'original' });
  });
  it.each(['slow', '0x', '-2x', 'x', '2', ''])('rejects %j', (v) => {
    expect(() => parsePace(v)).toThrow(UsageError);
  });
});

describe('runSchedule', () => {
  it('original honours the captured gaps', async () => {
    expect(await sendTimes({ kind: 'original' }, captured)).toEqual([0, 250, 1250, 4000]);
  });

  it('a factor is a speed: 2x halves the gaps, 0.5x doubles them', async () => {
    expect(await sendTimes({ kind: 'factor', factor: 2 }, captured)).toEqual([0, 125, 625, 2000]);
    expect(await sendTimes({ kind: 'factor', factor: 0.5 }, captured)).toEqual([0, 500, 2500, 8000]);
  });

  it('fast does not wait', async () => {
    expect(await sendTimes({ kind: 'fast' }, captured)).toEqual([0, 0, 0, 0]);
  });

  it('reactive waits for the answers that preceded each step, not for the clock', async () => {
    const clock = new VirtualClock();
    const other = new Arrivals(clock);
    const order: string[] = [];
    const steps: Timed[] = [
      { at: 0, before: 0 },
      { at: 900, before: 2 },
    ];
    const done = runSchedule({
      steps,
      gates: clientGates(steps, { kind: 'reactive' }),
      other,
      timeoutMs: 60_000,
      startedAt: clock.now(),
      run: (_s, i) => {
        order.push(`send ${i}`);
      },
    });
    await Promise.resolve();
    order.push('answer 1');
    other.arrived();
    await Promise.resolve();
    order.push('answer 2');
    other.arrived();
    await done;
    expect(order).toEqual(['send 0', 'answer 1', 'answer 2', 'send 1']);
  });

  it('reactive reports a wait that exceeds the timeout', async () => {
    const clock = new VirtualClock();
    const other = new Arrivals(clock);
    const steps: Timed[] = [{ at: 0, before: 1 }];
    const run = runSchedule({
      steps,
      gates: clientGates(steps, { kind: 'reactive' }),
      other,
      timeoutMs: 10_000,
      startedAt: clock.now(),
      run: () => undefined,
    });
    await expect(run).rejects.toBeInstanceOf(PaceTimeout);
    await expect(run).rejects.toThrow(/waited 10 s for message #1 of the peer, 0 arrived/);
  });

  it('stops waiting when the peer is gone', async () => {
    const clock = new VirtualClock();
    const other = new Arrivals(clock);
    other.close();
    await other.waitFor(3, 10_000);
    expect(other.count).toBe(0);
  });

  it('serve batches: first batch at once, later batches on the trigger, captured spacing inside', async () => {
    const clock = new VirtualClock();
    const clientMessages = new Arrivals(clock);
    const steps: Timed[] = [
      { at: 10, before: 0 },
      { at: 30, before: 0 },
      { at: 500, before: 1 },
      { at: 700, before: 1 },
    ];
    expect(batchGates(steps)).toEqual([
      { awaitOther: 0, delayMs: 0, from: 'trigger' },
      { awaitOther: 0, delayMs: 20, from: 'trigger' },
      { awaitOther: 1, delayMs: 0, from: 'trigger' },
      { awaitOther: 1, delayMs: 200, from: 'trigger' },
    ]);
    const startedAt = clock.now();
    const times: number[] = [];
    const run = runSchedule({
      steps,
      gates: batchGates(steps),
      other: clientMessages,
      timeoutMs: 1e9,
      startedAt,
      run: (_s, i) => {
        times.push(clock.now() - startedAt);
        // The client's message arrives 5 s after the first batch is done.
        if (i === 1) {
          clock.t += 5000;
          clientMessages.arrived();
        }
      },
    });
    await run;
    expect(times).toEqual([0, 20, 5020, 5220]);
  });

  it('startOffset follows the pace', () => {
    expect(startOffset(300, { kind: 'original' })).toBe(300);
    expect(startOffset(300, { kind: 'factor', factor: 3 })).toBe(100);
    expect(startOffset(300, { kind: 'fast' })).toBe(0);
  });
});
