import { describe, expect, it } from 'vitest';
import { parseFault, parseSeed, Random } from '../../src/gate/fault-spec.js';
import { UsageError } from '../../src/errors.js';

function error(spec: string): string {
  try {
    parseFault(spec);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).exitCode).toBe(2);
    const msg = (e as Error).message;
    expect(msg).not.toContain('\n');
    expect(msg).toContain(`'${spec}'`);
    return msg;
  }
  throw new Error(`'${spec}' parsed`);
}

describe('parseFault: the cli.md examples', () => {
  it('latency with jitter', () => {
    expect(parseFault('latency=200ms,jitter=50ms')).toMatchObject({ kind: 'latency', ms: 200, jitterMs: 50, rate: 1, side: null, path: null });
    expect(parseFault('latency=1.5s')).toMatchObject({ kind: 'latency', ms: 1500, jitterMs: 0 });
  });

  it('drop and duplicate take their probability as the value', () => {
    expect(parseFault('drop=5%')).toMatchObject({ kind: 'drop', rate: 0.05 });
    expect(parseFault('duplicate=1%')).toMatchObject({ kind: 'duplicate', rate: 0.01 });
  });

  it('swallow, corrupt, fragment, cut-after, refuse', () => {
    expect(parseFault('swallow=pong')).toMatchObject({ kind: 'swallow', control: 'pong' });
    expect(parseFault('swallow=ping')).toMatchObject({ kind: 'swallow', control: 'ping' });
    for (const c of ['utf8', 'rsv1', 'mask']) expect(parseFault(`corrupt=${c}`)).toMatchObject({ kind: 'corrupt', corrupt: c });
    expect(parseFault('fragment=8')).toMatchObject({ kind: 'fragment', frames: 8 });
    expect(parseFault('cut-after=30s')).toMatchObject({ kind: 'cut-after', ms: 30_000 });
    expect(parseFault('cut-after=100msg')).toMatchObject({ kind: 'cut-after', messages: 100 });
    expect(parseFault('refuse=503')).toMatchObject({ kind: 'refuse', status: 503 });
  });

  it('side and path regex; the regex runs to the end of the spec', () => {
    const f = parseFault('drop=5%@client~^/chat');
    expect(f).toMatchObject({ kind: 'drop', rate: 0.05, side: 'client' });
    expect(f.path!.test('/chat/room')).toBe(true);
    expect(f.path!.test('/other')).toBe(false);
    const g = parseFault('swallow=pong@server~^/a,b@c=d$');
    expect(g).toMatchObject({ kind: 'swallow', side: 'server' });
    expect(g.path!.source).toBe('^\\/a,b@c=d$');
    expect(parseFault('latency=10ms~/x').side).toBeNull();
  });

  it('rate on every fault', () => {
    expect(parseFault('latency=10ms,rate=50%')).toMatchObject({ rate: 0.5 });
    expect(parseFault('refuse=503,rate=12.5%')).toMatchObject({ rate: 0.125 });
    expect(parseFault('fragment=3,rate=100%').rate).toBe(1);
    expect(parseFault('latency=1ms').spec).toBe('latency=1ms');
  });
});

describe('parseFault: one line naming the spec and what is wrong', () => {
  it.each([
    ['', /no fault given/],
    ['@client', /no fault given/],
    ['bogus=1', /unknown fault 'bogus'/],
    ['latency', /'latency' is not NAME=VALUE/],
    ['latency=', /'latency' has no value/],
    ['latency=200', /expected a duration like 200ms/],
    ['latency=10ms,latency=20ms', /'latency' given twice/],
    ['jitter=5ms', /no fault given, only jitter/],
    ['drop=5%,jitter=1ms', /'jitter' only goes with latency/],
    ['drop=5', /expected a percentage/],
    ['drop=0%', /more than 0%/],
    ['drop=101%', /at most 100%/],
    ['drop=5%,rate=5%', /give the probability once/],
    ['drop=5%,duplicate=1%', /one fault per --fault, got drop and duplicate/],
    ['swallow=close', /expected swallow=ping or swallow=pong/],
    ['corrupt=bits', /expected corrupt=utf8, corrupt=rsv1 or corrupt=mask/],
    ['fragment=0', /1 to 1024 frames/],
    ['fragment=x', /expected a number of frames/],
    ['cut-after=soon', /expected a time like 30s or a message count like 100msg/],
    ['cut-after=0msg', /at least 1msg/],
    ['cut-after=30s@client', /cuts the whole connection/],
    ['refuse=101', /from 200 to 599/],
    ['refuse=abc', /expected an HTTP status/],
    ['refuse=503@server', /answers the upgrade itself/],
    ['drop=5%@both', /'@both' is not a side/],
    ['drop=5%~', /nothing after '~'/],
    ['drop=5%~(', /bad path regex '\('/],
    ['latency=10ms,rate=0.5', /rate=0.5: expected a percentage/],
    ['latency=100000000s', /longer than 24 days/],
  ])('%s', (spec, why) => {
    expect(error(spec)).toMatch(why);
  });
});

describe('Random', () => {
  it('is repeatable per seed and stream, and differs between streams', () => {
    const a = new Random(42, 1, 0);
    const b = new Random(42, 1, 0);
    const c = new Random(42, 2, 0);
    const xs = Array.from({ length: 50 }, () => a.next());
    expect(Array.from({ length: 50 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 50 }, () => c.next())).not.toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });

  it('is roughly uniform', () => {
    const r = new Random(7);
    let hits = 0;
    for (let i = 0; i < 20_000; i++) if (r.chance(0.25)) hits++;
    expect(hits / 20_000).toBeGreaterThan(0.23);
    expect(hits / 20_000).toBeLessThan(0.27);
  });

  it('parses --seed', () => {
    expect(parseSeed('42')).toBe(42);
    expect(() => parseSeed('-1')).toThrow(/bad --seed '-1'/);
    expect(() => parseSeed('x')).toThrow(UsageError);
  });
});
