import { describe, expect, it } from 'vitest';
import { ConnectionPolicy, FaultSource, RulesSource } from '../../src/gate/policy.js';
import { parseFault } from '../../src/gate/fault-spec.js';
import { parseRules } from '../../src/gate/rules.js';
import type { MessageView } from '../../src/gate/actions.js';

function view(from: 'client' | 'server', index: number, text = 'x'): MessageView {
  return { from, index, opcode: 1, compressed: false, length: text.length, data: Buffer.from(text), text, truncated: false };
}
const ctx = { conn: 1, target: '/chat?room=1' };

describe('FaultSource', () => {
  it('applies per side and path; latency with jitter stays within bounds; repeatable per seed', () => {
    const faults = ['latency=100ms,jitter=20ms@server', 'drop=50%@client~^/chat', 'swallow=pong@server', 'refuse=503~^/admin'].map(parseFault);
    const a = new FaultSource(faults, 42, 1);
    expect(a.mayApply('client', ctx)).toBe(true);
    expect(a.mayApply('client', { conn: 1, target: '/other' })).toBe(false);
    const delays = Array.from({ length: 50 }, (_, i) => a.decide(view('server', i), ctx)[0]);
    for (const d of delays) expect(d).toMatchObject({ kind: 'delay', by: 'fault', name: 'latency=100ms,jitter=20ms@server' });
    for (const d of delays) expect((d as { ms: number }).ms).toBeGreaterThanOrEqual(80);
    for (const d of delays) expect((d as { ms: number }).ms).toBeLessThanOrEqual(120);
    const drops = Array.from({ length: 200 }, (_, i) => a.decide(view('client', i), ctx).length);
    const b = new FaultSource(faults, 42, 1);
    for (let i = 0; i < 50; i++) b.decide(view('server', i), ctx);
    expect(Array.from({ length: 200 }, (_, i) => b.decide(view('client', i), ctx).length)).toEqual(drops);
    const dropped = drops.filter((n) => n === 1).length;
    expect(dropped).toBeGreaterThan(60);
    expect(dropped).toBeLessThan(140);
    expect(a.control('server', 0xa, ctx)).toEqual({ by: 'fault', name: 'swallow=pong@server' });
    expect(a.control('client', 0xa, ctx)).toBeNull();
    expect(a.control('server', 0x9, ctx)).toBeNull();
    expect(a.refusal(ctx)).toBeNull();
    expect(a.refusal({ conn: 2, target: '/admin' })).toEqual({ status: 503, actor: { by: 'fault', name: 'refuse=503~^/admin' } });
  });

  it('cut-after counts messages (of one side with @) and cuts once; a time is a connection timer', () => {
    const f = new FaultSource([parseFault('cut-after=3msg@client')], 1, 1);
    expect(f.mayApply('server', ctx)).toBe(false);
    const steps = [0, 1, 2, 3].map((i) => f.decide(view('client', i), ctx));
    expect(steps.map((s) => s.map((x) => x.kind))).toEqual([[], [], ['cut'], []]);
    const t = new FaultSource([parseFault('cut-after=30s')], 1, 1);
    expect(t.mayApply('client', ctx)).toBe(false);
    expect(t.cutAfter(ctx)).toEqual({ ms: 30_000, actor: { by: 'fault', name: 'cut-after=30s' } });
  });
});

describe('ConnectionPolicy', () => {
  it('combines rules then faults; a direction nothing applies to is not active', () => {
    const rules = new RulesSource(parseRules(JSON.stringify([{ match: { from: 'client', text: 'secret' }, action: 'drop' }]), 'r.json'), null);
    const policy = new ConnectionPolicy([rules, new FaultSource([parseFault('duplicate=100%@client')], 1, 1)], ctx);
    const client = policy.direction('client');
    const server = policy.direction('server');
    expect(client.active()).toBe(true);
    expect(server.active()).toBe(false);
    expect((client.decide(view('client', 0, 'secret')) as readonly { kind: string }[]).map((s) => s.kind)).toEqual(['drop', 'duplicate']);
    expect((client.decide(view('client', 1, 'public')) as readonly { kind: string }[]).map((s) => s.kind)).toEqual(['duplicate']);
  });
});
