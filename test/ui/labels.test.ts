/** Labels that say what they mean: no `?` where something was not recorded, the log's words in the list. */
import { describe, expect, it } from 'vitest';
import { closeSummary } from '../../ui/panes/connection-list.js';
import { handshakeLines } from '../../ui/panes/handshake.js';
import { statusLines } from '../../ui/panes/status-bar.js';
import { DashboardStore } from '../../ui/store.js';
import { DashboardView } from '../../ui/view.js';
import { T0, text } from './events.js';

describe('labels', () => {
  it('a HAR connection (no open event) says what was not recorded instead of `from ?`', () => {
    const store = new DashboardStore();
    store.ingest(text(1, 'client', 'from a HAR'));
    const lines = handshakeLines(store.connections.get(1)!).map((l) => l.text);
    expect(lines[0]).toBe('connection #1 from (not recorded) to (not recorded)');
    expect(lines.join('\n')).not.toContain('?');
  });

  it("replay's status bar names the replay and its server, not `frametap ? → …`", () => {
    const view = new DashboardView(new DashboardStore());
    const [first] = statusLines(view, { source: 'replay', listen: null, upstream: 'ws://127.0.0.1:9001/chat', captureFile: null }, 200);
    expect(first).toMatch(/^frametap replay → ws:\/\/127\.0\.0\.1:9001\/chat \|/);
    expect(first).not.toContain('?');
  });

  it('the close column uses the words of the log: closed by client / no close frame', () => {
    const store = new DashboardStore();
    store.ingest({ type: 'open', conn: 1, t: T0, client: 'c', target: 'ws://h/' });
    store.ingest({ type: 'end', conn: 1, t: T0 + 1, code: 1000, reason: '', initiator: 'client', clean: true, durationMs: 1, bytes: { client: 0, server: 0 }, frames: { client: 0, server: 0 } });
    expect(closeSummary(store.connections.get(1)!)).toBe('1000 Normal Closure (closed by client, clean)');
  });
});
