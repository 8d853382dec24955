/**
 * Forward mode in the dashboard: the connection list names each connection's host once there are
 * several, and raw tunnels are listed with their host and byte counts (pure, no screen).
 */
import { describe, expect, it } from 'vitest';
import { DashboardStore } from '../../ui/store.js';
import { DashboardView } from '../../ui/view.js';
import { connectionLines } from '../../ui/panes/connection-list.js';
import { runCommand, type CommandHost } from '../../ui/commands.js';
import { actionFor, helpLines } from '../../ui/keymap.js';
import type { SessionEvent } from '../../src/session/events.js';
import { T0, open } from './events.js';

const forwardOpen = (conn: number, target: string): SessionEvent => ({ type: 'open', conn, t: T0, client: '127.0.0.1:5000', target });

describe('forward mode in the connection list', () => {
  it('one host (reverse mode): paths only; several hosts: host and path', () => {
    const store = new DashboardStore();
    store.ingest(open(1));
    const view = new DashboardView(store);
    expect(connectionLines(view, 10, 160, T0).map((l) => l.text).join('\n')).not.toContain('127.0.0.1:9001/chat');
    store.ingest(forwardOpen(2, 'wss://app.example.test/live?room=1'));
    const text = connectionLines(view, 10, 160, T0).map((l) => l.text).join('\n');
    expect(text).toContain('app.example.test/');
    expect(text).toContain('127.0.0.1:9001/chat');
  });

  it('tunnels are listed with host:port, why and bytes, after the connections', () => {
    const store = new DashboardStore();
    store.ingest(forwardOpen(1, 'wss://app.example.test/live'));
    store.ingest({ type: 'tunnel', conn: 3, t: T0 + 5, client: '127.0.0.1:50122', target: 'pinned.example.test:443', why: 'ignore-hosts', bytes: { client: 5120, server: 81234 }, durationMs: 3021.4 });
    const lines = connectionLines(new DashboardView(store), 10, 200, T0 + 10).map((l) => l.text);
    const row = lines.find((l) => l.includes('pinned.example.test:443'))!;
    expect(row).toMatch(/#3\s+tunnel/);
    expect(row).toContain('5.0 KiB/79 KiB');
    expect(row).toContain('raw (ignore-hosts)');
    expect(lines.indexOf(row)).toBeGreaterThan(lines.findIndex((l) => l.includes('app.example.test')));
  });

  it('plain HTTP requests are hidden by default and listed with r (issue 12)', () => {
    const store = new DashboardStore();
    const view = new DashboardView(store);
    const host: CommandHost = { view, zoom: false, startSearch: () => {}, startFieldFilter: () => {}, searchAgain: () => {}, quit: () => {}, wake: () => {} };
    store.ingest({ type: 'http', conn: 7, t: T0 + 1, method: 'GET', target: 'http://app.example.test/index.html', status: 200, durationMs: 12 });
    const hidden = connectionLines(view, 10, 160, T0 + 10).map((l) => l.text);
    expect(hidden.join('\n')).not.toContain('index.html');
    expect(hidden.join('\n')).toContain('1 plain HTTP request hidden (r lists them)');
    const action = actionFor('normal', 'r');
    expect(action).toBe('show-http');
    expect(helpLines().some((l) => /^r\s+plain HTTP requests: list \/ hide/.test(l))).toBe(true);
    runCommand(action!, host);
    const listed = connectionLines(view, 10, 160, T0 + 10).map((l) => l.text);
    const row = listed.find((l) => l.includes('GET http://app.example.test/index.html'))!;
    expect(row).toMatch(/#7\s+http/);
    expect(row).toContain('200');
    // Among connections and tunnels: after them, in time order; a request never answered says so.
    store.ingest(forwardOpen(1, 'wss://app.example.test/live'));
    store.ingest({ type: 'http', conn: 8, t: T0 + 3, method: 'POST', target: 'http://api.example.test/x', status: null, durationMs: 5 });
    const both = connectionLines(view, 10, 200, T0 + 10).map((l) => l.text);
    expect(both.findIndex((l) => l.includes('POST http://api.example.test/x'))).toBeGreaterThan(both.findIndex((l) => l.includes('index.html')));
    expect(both.find((l) => l.includes('POST'))).toContain('no answer from upstream');
    expect(both.findIndex((l) => l.includes('index.html'))).toBeGreaterThan(both.findIndex((l) => l.includes('/live')));
    runCommand('show-http', host);
    expect(connectionLines(view, 10, 200, T0 + 10).map((l) => l.text).join('\n')).not.toContain('index.html');
  });
});
