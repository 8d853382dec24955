import { describe, expect, it } from 'vitest';
import { DashboardStore } from '../../ui/store.js';
import { formatRow, rowStyle } from '../../ui/panes/frame-log.js';
import type { InterceptEvent } from '../../src/session/events.js';

describe('intercept events in the dashboard log', () => {
  it('are rows of both logs with their own marker and colour', () => {
    const store = new DashboardStore();
    store.ingest({ type: 'open', conn: 1, t: 1000, client: '127.0.0.1:5000', target: 'ws://up/chat' });
    const edit: InterceptEvent = {
      type: 'intercept', conn: 1, t: 1001, from: 'client', action: 'edit', by: 'rule', name: 'mask-tokens',
      ref: { from: 'client', index: 3 }, message: { opcode: 1, length: 13, data: Buffer.from('{"token":"*"}'), truncated: false }, detail: 'replaced $.token',
    };
    store.ingest(edit);
    const c = store.connections.get(1)!;
    for (const log of [c.logs.frames, c.logs.messages]) {
      const row = log.get(log.count - 1)!;
      expect(row.event).toBe(edit);
    }
    const text = formatRow(edit, 200);
    expect(text).toContain('→ ✎ EDIT message 3 by rule mask-tokens: replaced $.token → "{\\"token\\":\\"*\\"}"');
    expect(rowStyle(edit)).toBe('intercept');
  });
});
