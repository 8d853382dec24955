import { describe, expect, it } from 'vitest';
import { BreakpointSource, parseBreakpoint } from '../../src/gate/breakpoints.js';
import type { MessageView } from '../../src/gate/actions.js';

function view(from: 'client' | 'server', text: string | null): MessageView {
  const data = Buffer.from(text ?? 'bin');
  return { from, index: 0, opcode: text === null ? 2 : 1, compressed: false, length: data.length, data, text, truncated: false };
}

describe('breakpoints', () => {
  it('parses terms; regexes may hold spaces', () => {
    const m = parseBreakpoint('client text /"type": "order"/ $.qty=5 path:^/trade');
    expect(m.from).toBe('client');
    expect(m.opcode).toBe(1);
    expect(m.text!.source).toBe('"type": "order"');
    expect(m.json).toMatchObject({ equals: 5 });
    expect(m.path!.source).toBe('^\\/trade');
    expect(parseBreakpoint('$.status=error').json).toMatchObject({ equals: 'error' });
    expect(() => parseBreakpoint('sideways')).toThrow(/bad breakpoint 'sideways': unknown term 'sideways'/);
    expect(() => parseBreakpoint('/(/')).toThrow(/bad regex/);
  });

  it('holds what matches, with the hold timeout; off holds nothing', () => {
    let changes = 0;
    const bps = new BreakpointSource(null, () => changes++);
    const ctx = { conn: 1, target: '/trade' };
    expect(bps.mayApply('client', ctx)).toBe(false);
    bps.add('client /order/');
    expect(changes).toBe(1);
    expect(bps.mayApply('client', ctx)).toBe(true);
    expect(bps.mayApply('server', ctx)).toBe(false);
    expect(bps.decide(view('client', 'new order'), ctx)).toEqual([{ kind: 'hold', timeoutMs: null, by: 'user', name: 'breakpoint 1' }]);
    expect(bps.decide(view('client', 'cancel'), ctx)).toEqual([]);
    bps.setEnabled(false);
    expect(bps.mayApply('client', ctx)).toBe(false);
    expect(bps.decide(view('client', 'new order'), ctx)).toEqual([]);
  });
});
