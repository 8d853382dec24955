import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JsonlWriter } from '../../src/capture/jsonl-writer.js';
import { readCaptureLines, readEventAt } from '../../src/capture/jsonl-reader.js';
import { EventBus } from '../../src/session/event-bus.js';
import type { CaptureHeader, MessageEvent, SessionEvent } from '../../src/session/events.js';
import { closeSummary, connectionLines } from '../../ui/panes/connection-list.js';
import { detailLines } from '../../ui/panes/frame-detail.js';
import { handshakeLines } from '../../ui/panes/handshake.js';
import { logLines } from '../../ui/panes/frame-log.js';
import { statusLines } from '../../ui/panes/status-bar.js';
import { DashboardStore, DEFAULT_FILTER, type Row } from '../../ui/store.js';
import { DashboardView } from '../../ui/view.js';
import { binary, exchange, frame, handshake, open, T0, text } from './events.js';
import { cap } from '../helpers/captured.js';

function feed(store: DashboardStore, events: readonly SessionEvent[]): void {
  for (const e of events) store.ingest(e);
}

function rowsOf(view: DashboardView): Row[] {
  const log = view.log()!;
  const out: Row[] = [];
  for (let i = 0; i < view.total(); i++) {
    const r = view.store.row(log, log.rawIndex(view.filter, i));
    if (r && !('pending' in r)) out.push(r);
  }
  return out;
}

describe('DashboardStore', () => {
  it('tracks a connection from open to a clean close with names and counters', () => {
    const store = new DashboardStore();
    feed(store, [open(1), handshake(1)]);
    const c = store.connections.get(1)!;
    expect(c.state).toBe('open');
    expect(c.path).toBe('/chat?c=1');
    feed(store, [...exchange(1, 'client', 'hello'), ...exchange(1, 'server', 'world'), ...exchange(1, 'server', 'again')]);
    expect(c.messages).toEqual({ client: 1, server: 2 });
    expect(c.frameCount).toEqual({ client: 1, server: 2 });
    expect(c.bytes).toEqual({ client: 5, server: 10 });
    feed(store, [{ type: 'close', conn: 1, t: T0 + 5, from: 'client', code: 1000, reason: 'bye' }]);
    expect(c.state).toBe('closing');
    feed(store, [
      { type: 'close', conn: 1, t: T0 + 6, from: 'server', code: 1000, reason: 'bye' },
      { type: 'end', conn: 1, t: T0 + 7, code: 1000, reason: 'bye', initiator: 'client', clean: true, durationMs: 7, bytes: { client: 20, server: 30 }, frames: { client: 2, server: 3 } },
    ]);
    expect(c.state).toBe('closed');
    expect(c.bytes).toEqual({ client: 20, server: 30 });
    expect(closeSummary(c)).toBe('1000 Normal Closure (closed by client, clean)');
    const summary = handshakeLines(c).map((l) => l.text);
    expect(summary).toContain('  → client sent close 1000 Normal Closure "bye"');
    expect(summary.some((t) => t.includes('ended: 1000 Normal Closure "bye", initiated by the client, clean'))).toBe(true);
  });

  it('shows abrupt ends and refused upgrades by name', () => {
    const store = new DashboardStore();
    feed(store, [open(1), handshake(1), { type: 'end', conn: 1, t: T0 + 9, code: 1006, reason: '', initiator: null, clean: false, durationMs: 9, bytes: { client: 0, server: 0 }, frames: { client: 0, server: 0 } }]);
    expect(closeSummary(store.connections.get(1)!)).toBe('1006 Abnormal Closure (no close frame, unclean)');
    const refused: SessionEvent = { ...(handshake(2) as Extract<SessionEvent, { type: 'handshake' }>), response: { status: 403, reason: 'Forbidden', httpVersion: '1.1', headers: [] }, upgraded: false };
    feed(store, [open(2), refused]);
    expect(store.connections.get(2)!.state).toBe('closed');
    expect(closeSummary(store.connections.get(2)!)).toBe('refused 403 Forbidden');
    expect(handshakeLines(store.connections.get(2)!).some((l) => l.text === 'upgrade refused: 403 Forbidden')).toBe(true);
  });

  it('shows a refused upgrade\'s body in the handshake pane, as safe text or as hex', () => {
    const store = new DashboardStore();
    const base = handshake(3) as Extract<SessionEvent, { type: 'handshake' }>;
    const text = Buffer.from('no \x1b[31mentry\r\nsecond line');
    feed(store, [open(3), { ...base, upgraded: false, response: { status: 403, reason: 'Forbidden', httpVersion: '1.1', headers: [], body: text } }]);
    const lines = handshakeLines(store.connections.get(3)!).map((l) => l.text);
    expect(lines).toContain('body: 26 B');
    // The ESC is not a control a text body may hold: the body is shown in hex, the byte never raw.
    expect(lines.some((t) => t.includes('1b 5b 33 31'))).toBe(true);
    expect(lines.join('\n')).not.toContain('\x1b');
    const plain = Buffer.from('forbidden\r\nby policy');
    feed(store, [open(4), { ...base, conn: 4, upgraded: false, response: { status: 403, reason: 'Forbidden', httpVersion: '1.1', headers: [], body: plain, bodyTruncated: true } }]);
    const lines4 = handshakeLines(store.connections.get(4)!).map((l) => l.text);
    expect(lines4).toContain('body: 20 B (cut at --max-payload)');
    expect(lines4).toContain('forbidden');
    expect(lines4).toContain('by policy');
  });

  it('previews a whole-message frame with the payload its message carries', () => {
    const store = new DashboardStore();
    const view = new DashboardView(store);
    view.logHeight = 5;
    feed(store, [open(1), handshake(1), ...exchange(1, 'server', '{"type":"welcome"}')]);
    view.settle();
    const lines = logLines(view, 120).map((l) => l.text);
    expect(lines[0]).toMatch(/← text\s+F\.\.\.\.\s+18 B\s+\{"type":"welcome"\}/);
    const c = view.connection()!;
    const detail = detailLines(view.selectedRow()!, { store, log: c.logs.frames, framesLog: c.logs.frames, payloadView: 'json' }, 80).map((l) => l.text);
    expect(detail).toContain('  "type": "welcome"');
  });

  it('shows a compressed message as wire size → inflated size (RFC 7692)', () => {
    const store = new DashboardStore();
    const view = new DashboardView(store);
    view.mode = 'messages';
    view.logHeight = 5;
    const deflated = Buffer.from('f248cdc9c90700', 'hex');
    feed(store, [open(1), handshake(1), frame(1, 'server', 1, null, { rsv1: true, payload: deflated, length: 7 }), text(1, 'server', 'Hello', { compressed: true })]);
    view.settle();
    expect(logLines(view, 120)[0]!.text).toMatch(/← text\s+z\s+7 B → 5 B\s+Hello/);
    const c = view.connection()!;
    const detail = detailLines(view.selectedRow()!, { store, log: c.logs.messages, framesLog: c.logs.frames, payloadView: 'text' }, 80).map((l) => l.text);
    expect(detail).toContain('compressed 7 B on the wire → inflated 5 B, 1 frame');
  });

  it('status bar: listen → upstream, connections, rates, capture file, errors and key hints', () => {
    let now = 10_000;
    const store = new DashboardStore({ now: () => now });
    const view = new DashboardView(store);
    feed(store, [open(1), handshake(1), open(2), handshake(2)]);
    for (let i = 0; i < 30; i++) feed(store, exchange(1, 'client', 'x'.repeat(100)));
    feed(store, [{ type: 'end', conn: 2, t: T0, code: 1000, reason: '', initiator: 'client', clean: true, durationMs: 1, bytes: { client: 0, server: 0 }, frames: { client: 0, server: 0 } }]);
    feed(store, [{ type: 'error', t: T0, stage: 'capture', detail: 'the disk cannot keep up; slowing the relay' }]);
    now = 12_500;
    const [first, second] = statusLines(view, { source: 'live', listen: '127.0.0.1:8080', upstream: 'ws://127.0.0.1:9001', captureFile: '/tmp/c.jsonl' }, 300);
    expect(first).toContain('frametap 127.0.0.1:8080 → ws://127.0.0.1:9001');
    expect(first).toContain('conns 1 open / 2');
    // 30 messages in the second before: 10/s over the last three seconds.
    expect(first).toContain('msgs 30 10/s');
    expect(first).toContain('2.9 KiB 1000 B/s');
    expect(first).toContain('capture /tmp/c.jsonl');
    expect(first).toContain('! capture: the disk cannot keep up');
    expect(second).toContain('? help');
  });

  it('measures ping→pong round trips (RFC 6455 §5.5.3: the pong echoes the ping data)', () => {
    const store = new DashboardStore();
    feed(store, [open(1), handshake(1), frame(1, 'server', 9, 'hb-1', { t: T0 + 100 }), frame(1, 'client', 10, 'other', { t: T0 + 101 })]);
    expect(store.connections.get(1)!.rttMs).toBeNull();
    feed(store, [frame(1, 'client', 10, 'hb-1', { t: T0 + 103.5 })]);
    expect(store.connections.get(1)!.rttMs).toBe(3.5);
  });

  it('links a fragmented message to its frames and puts pings in the messages view', () => {
    const store = new DashboardStore();
    const view = new DashboardView(store);
    feed(store, [
      open(1),
      handshake(1),
      frame(1, 'client', 1, 'hel', { fin: false }),
      frame(1, 'server', 9, 'p'),
      frame(1, 'client', 0, 'lo', { fin: false }),
      frame(1, 'client', 0, '!', { fin: true }),
      text(1, 'client', 'hello!', { frames: 3 }),
    ]);
    view.mode = 'messages';
    const rows = rowsOf(view);
    expect(rows.map((r) => r.event.type)).toEqual(['frame', 'message']);
    const msg = rows[1]!;
    expect(msg.frames).toEqual([0, 3]);
    const c = view.connection()!;
    const detail = detailLines(msg, { store, log: c.logs.messages, framesLog: c.logs.frames, payloadView: 'text' }, 80).map((l) => l.text);
    expect(detail).toContain('fragments: frames 1–4');
    expect(detail).toContain('  frame 3: cont FIN 0 RSV1 0 2 B');
    expect(detail).toContain('hello!');
  });

  it('filters by direction, kind and ping/pong, and follows the newest row', () => {
    const store = new DashboardStore();
    const view = new DashboardView(store);
    feed(store, [open(1), handshake(1), ...exchange(1, 'client', 'a'), frame(1, 'client', 9, 'p'), frame(1, 'server', 10, 'p'), binary(1, 'server', Buffer.from([1, 2])), frame(1, 'server', 2, '\u0001\u0002')]);
    feed(store, [{ type: 'violation', conn: 1, t: T0, from: 'server', code: 1002, rule: 'rsv2-rsv3-set', detail: 'RSV2 set' }]);
    expect(view.total()).toBe(5);
    view.setFilter({ ...DEFAULT_FILTER, direction: 'server' });
    expect(rowsOf(view).map((r) => r.event.type)).toEqual(['frame', 'frame', 'violation']);
    view.setFilter({ ...DEFAULT_FILTER, pingPong: false });
    expect(rowsOf(view).map((r) => (r.event.type === 'frame' ? r.event.opcode : r.event.type))).toEqual([1, 2, 'violation']);
    view.setFilter({ ...DEFAULT_FILTER, text: false, control: false });
    expect(rowsOf(view).map((r) => (r.event.type === 'frame' ? r.event.opcode : r.event.type))).toEqual([2, 'violation']);
    view.setFilter(DEFAULT_FILTER);
    view.logHeight = 3;
    view.settle();
    expect(view.selected).toBe(4);
    expect(logLines(view, 100).map((l) => l.text.slice(0, 1))).toEqual([' ', ' ', '>']);
    expect(logLines(view, 100).at(-1)!.style).toBe('selected');
    expect(logLines(view, 100)[1]!.text).toContain('binary');
  });

  it('never jumps while the user reads, and freezes while paused', () => {
    const store = new DashboardStore();
    const view = new DashboardView(store);
    view.logHeight = 5;
    feed(store, [open(1), handshake(1)]);
    for (let i = 0; i < 20; i++) feed(store, exchange(1, 'client', `m${i}`));
    view.settle();
    expect(view.selected).toBe(19);
    view.move(-3);
    view.settle();
    expect(view.follow).toBe(false);
    const [sel, top] = [view.selected, view.top];
    for (let i = 20; i < 40; i++) feed(store, exchange(1, 'client', `m${i}`));
    view.settle();
    expect([view.selected, view.top]).toEqual([sel, top]);
    view.end();
    view.togglePause();
    view.settle();
    expect(view.total()).toBe(40);
    feed(store, exchange(1, 'client', 'late'));
    view.settle();
    expect(view.total()).toBe(40);
    expect(store.connections.get(1)!.messages.client).toBe(41);
    view.togglePause();
    view.settle();
    expect(view.total()).toBe(41);
    expect(view.selected).toBe(40);
  });

  it('searches text payloads with a regex, wrapping around', async () => {
    const store = new DashboardStore();
    const view = new DashboardView(store);
    view.mode = 'messages';
    feed(store, [open(1), handshake(1), ...exchange(1, 'client', 'alpha'), ...exchange(1, 'server', '{"price": 42}'), ...exchange(1, 'client', 'beta'), ...exchange(1, 'server', '{"price": 43}')]);
    view.settle();
    expect(await view.find('price.*4[23]')).toBe(true);
    expect(view.selected).toBe(1);
    expect(await view.find('', 1)).toBe(true);
    expect(view.selected).toBe(3);
    expect(await view.find('', 1)).toBe(true);
    expect(view.selected).toBe(1);
    expect(await view.find('nomatch')).toBe(false);
    expect(view.notice).toContain('no match');
    // An invalid regex is searched as plain text.
    feed(store, exchange(1, 'client', 'a (b'));
    expect(await view.find('(b')).toBe(true);
    expect(view.selected).toBe(4);
  });

  it('shows a HAR connection (messages only) as messages and says why', () => {
    const store = new DashboardStore();
    const view = new DashboardView(store);
    feed(store, [open(1), text(1, 'client', 'from a HAR'), text(1, 'server', 'reply')]);
    expect(view.effectiveMode()).toBe('messages');
    expect(view.total()).toBe(2);
    view.logHeight = 5;
    view.settle();
    expect(logLines(view, 100).map((l) => l.text).join('\n')).toContain('from a HAR');
    const conns = connectionLines(view, 5, 160, T0).map((l) => l.text);
    expect(conns[1]).toMatch(/>#1 +recorded /);
  });

  describe('bounded memory with read-back from the capture', () => {
    let dir: string | null = null;
    afterEach(() => {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
      dir = null;
    });

    it('evicts old rows, keeps their capture offsets, and reads the first one back', async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-store-'));
      const file = path.join(dir, 'c.jsonl');
      const header: CaptureHeader = { type: 'capture', format: 'frametap-capture', version: 1, started: new Date(T0).toISOString(), tool: { name: 'frametap', version: '0' }, mode: 'reverse', listen: null, upstream: null };
      const writer = JsonlWriter.create(file, header);
      const bus = new EventBus();
      let changed = 0;
      let notify: () => void = () => {};
      const store = new DashboardStore({ maxRows: 100, readBack: (o, l) => readEventAt(file, o, l), onChange: () => { changed++; notify(); } });
      writer.onLine((e, o, l) => store.located(e, o, l));
      bus.subscribe('writer', (e) => writer.write(e));
      bus.subscribe('store', (e) => store.ingest(e));
      bus.publish(open(1));
      bus.publish(handshake(1));
      for (let i = 0; i < 1000; i++) for (const e of exchange(1, i % 2 ? 'server' : 'client', `message number ${i}`)) bus.publish(e);
      await writer.close();

      expect(store.retainedRows).toBe(100);
      const view = new DashboardView(store);
      view.mode = 'messages';
      expect(view.total()).toBe(1000);
      const log = view.log()!;
      expect(log.firstRetained).toBe(950);
      const first = store.row(log, 0);
      expect(first).toEqual({ index: 0, pending: true });
      const arrived = new Promise<void>((resolve) => (notify = resolve));
      await arrived;
      const back = store.row(log, 0) as Row;
      expect(cap(back.event)).toMatchObject({ type: 'message', text: 'message number 0', from: 'client' });
      view.home();
      view.settle();
      expect(cap(view.selectedRow()!.event)).toMatchObject({ text: 'message number 0' });
      expect(changed).toBeGreaterThan(2000);
    });

    it('shows an evicted row as gone when the capture cannot be read back', async () => {
      let notify: () => void = () => {};
      const store = new DashboardStore({ maxRows: 2, readBack: (o, l) => readEventAt('/nonexistent/frametap.jsonl', o, l), onChange: () => notify() });
      const events = [open(1), handshake(1), ...exchange(1, 'client', 'a'), ...exchange(1, 'client', 'b'), ...exchange(1, 'client', 'c')];
      events.forEach((e, i) => {
        store.ingest(e);
        store.located(e, i * 100, 90);
      });
      const log = store.connections.get(1)!.logs.messages;
      expect(log.firstRetained).toBe(2);
      const failed = new Promise<void>((resolve) => (notify = resolve));
      expect(store.row(log, 0)).toEqual({ index: 0, pending: true });
      await failed;
      expect(store.row(log, 0)).toBeNull();
    });

    it('takes locations reported before or after the store sees the event, and gives up on skipped ones', () => {
      const store = new DashboardStore({ maxRows: 1, readBack: () => new Promise<SessionEvent | null>(() => {}) });
      const a = exchange(1, 'client', 'a');
      const b = exchange(1, 'client', 'b');
      const c = exchange(1, 'client', 'c');
      // a: the writer reports first (subscribed after the store); b: never written; c: the usual order.
      for (const e of [open(1), handshake(1)]) store.ingest(e);
      a.forEach((e, i) => store.located(e, 100 + i, 10));
      for (const e of [...a, ...b, ...c]) store.ingest(e);
      c.forEach((e, i) => store.located(e, 300 + i, 10));
      const log = store.connections.get(1)!.logs.messages;
      expect(log.location(0)).toEqual({ offset: 101, length: 10 });
      expect(log.location(1)).toBeNull();
      expect(log.location(2)).toEqual({ offset: 301, length: 10 });
      expect(store.row(log, 0)).toEqual({ index: 0, pending: true });
      expect(store.row(log, 1)).toBeNull();
    });

    it('searches evicted rows by streaming the capture, forward and backward', async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-store-'));
      const file = path.join(dir, 'c.jsonl');
      const header: CaptureHeader = { type: 'capture', format: 'frametap-capture', version: 1, started: new Date(T0).toISOString(), tool: { name: 'frametap', version: '0' }, mode: 'reverse', listen: null, upstream: null };
      const writer = JsonlWriter.create(file, header);
      const store = new DashboardStore({ maxRows: 50, readBack: (o, l) => readEventAt(file, o, l) });
      writer.onLine((e, o, l) => store.located(e, o, l));
      const all = [open(1), handshake(1), open(2), handshake(2)];
      for (let i = 0; i < 500; i++) {
        all.push(...exchange(1, i % 2 ? 'server' : 'client', i === 7 || i === 300 ? `needle ${i}` : `hay ${i}`));
        all.push(...exchange(2, 'client', `other ${i}`));
      }
      for (const e of all) {
        writer.write(e);
        store.ingest(e);
      }
      await writer.close();
      const view = new DashboardView(store);
      view.connFollow = false;
      view.selectedConn = 1;
      view.mode = 'messages';
      view.settle();
      expect(view.log()!.firstRetained).toBeGreaterThan(300);
      const lines = (start: number) => readCaptureLines(file, { start });
      expect(await view.find('needle', 1, lines)).toBe(true);
      expect(view.selected).toBe(7);
      expect(await view.find('', 1, lines)).toBe(true);
      expect(view.selected).toBe(300);
      expect(await view.find('', 1, lines)).toBe(true);
      expect(view.selected).toBe(7);
      expect(await view.find('', -1, lines)).toBe(true);
      expect(view.selected).toBe(300);
      // Filters apply to evicted rows too: needle 7 came from the server.
      view.setFilter({ ...DEFAULT_FILTER, direction: 'client' });
      expect(await view.find('needle', 1, lines)).toBe(true);
      expect(store.row(view.log()!, view.log()!.rawIndex(view.filter, view.selected))).toEqual({ index: 300, pending: true });
      // Without the capture only rows in memory are searched.
      expect(await view.find('needle 7', 1)).toBe(false);
      expect(view.notice).toContain('not searched');
    });

    it('keeps large payloads as a preview and reads the whole one back for the detail', async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-store-'));
      const file = path.join(dir, 'c.jsonl');
      const header: CaptureHeader = { type: 'capture', format: 'frametap-capture', version: 1, started: new Date(T0).toISOString(), tool: { name: 'frametap', version: '0' }, mode: 'reverse', listen: null, upstream: null };
      const writer = JsonlWriter.create(file, header);
      let notify: () => void = () => {};
      const store = new DashboardStore({ slimOver: 64, readBack: (o, l) => readEventAt(file, o, l), onChange: () => notify() });
      writer.onLine((e, o, l) => store.located(e, o, l));
      const big = 'x'.repeat(5000) + 'END';
      for (const e of [open(1), handshake(1), ...exchange(1, 'server', big)]) {
        writer.write(e);
        store.ingest(e);
      }
      await writer.close();
      const c = store.connections.get(1)!;
      const row = c.logs.messages.get(0)!;
      expect(row.slim).toBe(true);
      expect((row.event as MessageEvent).data.length).toBe(64);
      expect(store.fullEvent(c.logs.messages, row)).toBeNull();
      await new Promise<void>((resolve) => (notify = resolve));
      expect((store.fullEvent(c.logs.messages, row) as MessageEvent).data.toString('utf8')).toBe(big);
    });
  });
});
