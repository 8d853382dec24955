/** The dashboard's app-protocol view, pure: store → log rows, detail tree, search, connection list. */
import { describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../src/session/events.js';
import { connectionLines } from '../../ui/panes/connection-list.js';
import { detailLines } from '../../ui/panes/frame-detail.js';
import { logLines } from '../../ui/panes/frame-log.js';
import { DashboardStore } from '../../ui/store.js';
import { DashboardView } from '../../ui/view.js';
import { appOf, decodedRows, DECODED_ROWS, rowApp } from '../../ui/app-view.js';
import { AppViews } from '../../src/appproto/connection-app.js';
import { mqttSession, socketIoVectors } from '../appproto/vectors.js';
import { T0 } from './events.js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { JsonlWriter } from '../../src/capture/jsonl-writer.js';
import { readCaptureLines, readEventAt } from '../../src/capture/jsonl-reader.js';
import type { CaptureHeader } from '../../src/session/events.js';
import { fieldsMatch, parseFieldTerms, type FieldTerm } from '../../ui/field-filter.js';
import { describeFilter } from '../../ui/view.js';
import { logTitle } from '../../ui/panes/frame-log.js';

function session(target: string, protocol: string | null, vectors: ReadonlyArray<{ from: 'client' | 'server'; opcode: 1 | 2; bytes: Buffer }>): SessionEvent[] {
  const out: SessionEvent[] = [
    { type: 'open', conn: 1, t: T0, client: '127.0.0.1:5000', target: `ws://127.0.0.1:9001${target}` },
    { type: 'handshake', conn: 1, t: T0, request: { method: 'GET', target, httpVersion: '1.1', headers: [] }, response: { status: 101, reason: 'Switching Protocols', httpVersion: '1.1', headers: [] }, upgraded: true, accept: 'ok', protocol, extensions: [] },
  ];
  vectors.forEach((v, i) => out.push({ type: 'message', conn: 1, t: T0 + 10 * (i + 1), from: v.from, opcode: v.opcode, compressed: false, frames: 1, length: v.bytes.length, data: v.bytes, truncated: false }));
  return out;
}

function load(events: readonly SessionEvent[], app?: null): DashboardView {
  const store = new DashboardStore(app === null ? { app: null } : {});
  for (const e of events) store.ingest(e);
  const view = new DashboardView(store);
  view.mode = 'messages';
  view.logHeight = 100;
  view.settle();
  return view;
}

const text = (lines: ReadonlyArray<{ text: string }>): string => lines.map((l) => l.text).join('\n');

describe('dashboard app-protocol view', () => {
  const sio = session('/socket.io/?EIO=4&transport=websocket', null, socketIoVectors().flat());

  it('the preview column shows the decoded summary and a reply its latency', () => {
    const view = load(sio);
    const shown = text(logLines(view, 200));
    expect(shown).toContain('socket.io chat ack 12');
    expect(shown).toContain('socket.io ack 12 (reply in 10.0 ms)');
    expect(shown).toContain('socket.io upload ack 3 +2 binary');
    expect(shown).not.toContain('42["chat"');
    // Decoding off: the raw text again.
    expect(text(logLines(load(sio, null), 200))).toContain('4212["chat",{"text":"hi"}]');
  });

  it('search matches decoded fields (event:chat, topic:sensors/*); the detail pane shows the tree', async () => {
    const view = load(sio);
    expect(await view.find('event:chat')).toBe(true);
    const row = view.selectedRow()!;
    expect(row.app?.summary).toBe('socket.io chat ack 12');
    const c = view.connection()!;
    const detail = text(detailLines(row, { store: view.store, log: c.logs.messages, framesLog: c.logs.frames, payloadView: 'text' }, 120));
    expect(detail).toContain('decoded: socket.io chat ack 12');
    expect(detail).toContain('socket.io EVENT: protocol 5');
    expect(detail).toContain('  ack id: 12');
    expect(detail).toContain('    text: "hi"');
    // o folds the tree level by level.
    const folded = (depth: number) => text(detailLines(row, { store: view.store, log: c.logs.messages, framesLog: c.logs.frames, payloadView: 'text', treeDepth: depth }, 120));
    expect(folded(1)).toContain('socket.io EVENT: protocol 5 + (5 more)');
    expect(folded(1)).not.toContain('ack id');
    expect(folded(2)).toContain('  args: array(1) + (1 more)');
    expect(folded(2)).not.toContain('text: "hi"');
    expect(await view.find('event:nope')).toBe(false);

    const mqtt = load(session('/mqtt', 'mqtt', mqttSession(4)));
    expect(await mqtt.find('topic:sensors/*')).toBe(true);
    expect(mqtt.selectedRow()!.app?.summary).toBe('MQTT SUBSCRIBE sensors/# alerts id 1');
    expect(await mqtt.find('topic:sensors/1')).toBe(true);
    expect(mqtt.selectedRow()!.app?.summary).toBe('MQTT PUBLISH sensors/1 qos1 id 2');
  });

  it('the connection list shows request/reply counts and latency', () => {
    // Replies after 20 (connect /), 10 (ack 12), 30 (ack 3) and 100 ms (connect_error /admin).
    const view = load(sio);
    expect(text(connectionLines(view, 10, 300, T0 + 1000))).toMatch(/ pairs .*\n.* 4\/4, p50 20\.0 ms, p99 100\.0 ms/);
    const ended = load([...sio, { type: 'end', conn: 1, t: T0 + 500, code: 1000, reason: '', initiator: 'client', clean: true, durationMs: 500, bytes: { client: 0, server: 0 }, frames: { client: 0, server: 0 } }]);
    expect(text(connectionLines(ended, 10, 300, T0 + 1000))).toMatch(/1000 Normal Closure \(closed by client, clean\) +4\/4, p50 20\.0 ms, p99 100\.0 ms/);
  });

  it('search decodes rows evicted to the capture too (event:chat on a row no longer in memory)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-appsearch-'));
    try {
      const file = path.join(dir, 'c.jsonl');
      const header: CaptureHeader = { type: 'capture', format: 'frametap-capture', version: 1, started: new Date(T0).toISOString(), tool: { name: 'frametap', version: '0' }, mode: 'reverse', listen: null, upstream: null };
      const writer = JsonlWriter.create(file, header);
      let arrived: (() => void) | null = null;
      const store = new DashboardStore({ maxRows: 40, readBack: (o, l) => readEventAt(file, o, l), onReadBack: () => arrived?.() });
      writer.onLine((e, o, l) => store.located(e, o, l));
      const noise = Array.from({ length: 200 }, (_, i) => ({ from: 'client' as const, opcode: 1 as const, bytes: Buffer.from(`42["noise",{"i":${i}}]`) }));
      const events = session('/socket.io/?EIO=4&transport=websocket', null, [...socketIoVectors().flat(), ...noise]);
      for (const e of events) {
        writer.write(e);
        store.ingest(e);
      }
      await writer.close();
      const view = new DashboardView(store);
      view.connFollow = false;
      view.selectedConn = 1;
      view.mode = 'messages';
      view.settle();
      expect(view.log()!.firstRetained).toBeGreaterThan(20);
      // In memory only: the chat rows are gone, so nothing matches.
      expect(await view.find('event:chat', 1)).toBe(false);
      // Read back and decoded: the first chat row, whose raw text has no `event:chat` in it.
      expect(await view.find('event:chat', 1, (start) => readCaptureLines(file, { start }))).toBe(true);
      const raw = view.log()!.rawIndex(view.filter, view.selected);
      expect(raw).toBeLessThan(view.log()!.firstRetained);
      const back = await readEventAt(file, view.log()!.location(raw)!.offset, view.log()!.location(raw)!.length);
      expect(back?.type === 'message' && back.data.toString('utf8')).toMatch(/^42\d*\["chat"/);

      // The field filter decides evicted rows by reading them back: the same rows as with all in memory.
      view.setFieldFilter('event:chat');
      const log = view.log()!;
      while (log.fieldPending(view.filter) !== null) {
        const pass = new Promise<void>((resolve) => (arrived = resolve));
        view.settle();
        await pass;
      }
      const inMemory = load(session('/socket.io/?EIO=4&transport=websocket', null, socketIoVectors().flat()));
      inMemory.setFieldFilter('event:chat');
      expect(inMemory.total()).toBeGreaterThan(0);
      expect(view.total()).toBe(inMemory.total());
      expect(log.rawIndex(view.filter, 0)).toBeLessThan(log.firstRetained);
      view.setFieldFilter('event:noise');
      while (log.fieldPending(view.filter) !== null) {
        const pass = new Promise<void>((resolve) => (arrived = resolve));
        view.settle();
        await pass;
      }
      expect(view.total()).toBe(200);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('field terms: name:glob, all must match, names in any case, values whole', () => {
    const terms = (t: string): readonly FieldTerm[] => {
      const p = parseFieldTerms(t);
      if ('error' in p) throw new Error(p.error);
      return p.terms;
    };
    const fields = 'type:event\nnamespace:/\nevent:chat';
    expect(fieldsMatch(terms('event:chat'), fields)).toBe(true);
    expect(fieldsMatch(terms('EVENT:ch*'), fields)).toBe(true);
    expect(fieldsMatch(terms('event:cha'), fields)).toBe(false);
    expect(fieldsMatch(terms('event:c?at type:event'), fields)).toBe(true);
    expect(fieldsMatch(terms('event:chat type:ack'), fields)).toBe(false);
    expect(fieldsMatch(terms('topic:sensors/*'), 'topic:sensors/1/temp')).toBe(true);
    expect(fieldsMatch(terms('topic:sensors/*'), 'topic:alerts')).toBe(false);
    // Regex characters in a glob are literal.
    expect(fieldsMatch(terms('topic:a.b'), 'topic:axb')).toBe(false);
    expect(fieldsMatch(terms(''), undefined)).toBe(true);
    expect(fieldsMatch(terms('event:chat'), undefined)).toBe(false);
    expect(parseFieldTerms('chat')).toEqual({ error: "'chat' is not name:glob (e.g. event:chat, topic:sensors/*)" });
    expect(parseFieldTerms(':x')).toHaveProperty('error');
  });

  it('the filter menu filters on decoded fields and says so in the log title', () => {
    const view = load(sio);
    const before = view.total();
    view.setFieldFilter('event:chat');
    expect(view.total()).toBeGreaterThan(0);
    expect(view.total()).toBeLessThan(before);
    const rows = text(logLines(view, 200));
    expect(rows).toContain('socket.io chat ack 12');
    expect(rows).not.toContain('socket.io upload');
    expect(describeFilter(view.filter)).toBe('fields event:chat, both directions, text+binary+control');
    expect(logTitle(view)).toContain('filter: fields event:chat, both directions, text+binary+control');
    view.setFieldFilter('chat');
    expect(view.notice).toContain('not name:glob');
    expect(describeFilter(view.filter)).toContain('fields event:chat');
    view.setFieldFilter('');
    expect(view.total()).toBe(before);
    const mqtt = load(session('/mqtt', 'mqtt', mqttSession(4)));
    mqtt.setFieldFilter('topic:sensors/*');
    expect(text(logLines(mqtt, 200))).toContain('MQTT PUBLISH sensors/1 qos1 id 2');
    expect(text(logLines(mqtt, 200))).not.toContain('CONNECT');
  });

  it('binary msgpack / protobuf rows are decoded when shown or searched, to what eager decoding gives', async () => {
    // msgpack {"op":"hi"}; protobuf field 1 = 150 (protobuf.dev's example), and field 2 = "ok".
    const msgpack = Buffer.from([0x81, 0xa2, 0x6f, 0x70, 0xa2, 0x68, 0x69]);
    const protobuf = Buffer.from([0x08, 0x96, 0x01, 0x12, 0x02, 0x6f, 0x6b]);
    const events = session('/bin', null, [
      { from: 'client', opcode: 2, bytes: msgpack },
      { from: 'server', opcode: 2, bytes: protobuf },
    ]);
    const eager = new AppViews();
    const summaries = events.flatMap((e) => eager.observe(e)).flatMap((n) => (n.kind === 'message' ? [n.view.summary] : []));
    expect(summaries).toHaveLength(2);

    const view = load(events);
    const log = view.store.connections.get(1)!.logs.messages;
    const rows = [log.get(0)!, log.get(1)!];
    // Not decoded while only ingested.
    expect(rows.map((r) => [r.app, typeof r.appLater])).toEqual([[undefined, 'function'], [undefined, 'function']]);
    const shown = text(logLines(view, 200));
    for (const s of summaries) expect(shown).toContain(s);
    expect(rows.map((r) => appOf(r)?.summary)).toEqual(summaries);
    // Kept in the bounded cache of decoded rows, not on the row.
    expect(rows.map((r) => r.app)).toEqual([undefined, undefined]);
    expect(appOf(rows[0]!)).toBe(appOf(rows[0]!));

    // Search finds a decoded field of a row not decoded yet.
    const again = load(events);
    expect(again.store.connections.get(1)!.logs.messages.get(0)!.appLater).toBeTypeOf('function');
    expect(await again.find('protobuf fields')).toBe(true);
    expect(again.selectedRow()!.event).toMatchObject({ from: 'server' });
  });

  it('JSON text rows: plain JSON is decoded only when shown, JSON-RPC pairs at ingest; what is shown is what eager decoding gives', async () => {
    const vectors = [
      { from: 'client' as const, opcode: 1 as const, bytes: Buffer.from('{"seq":1,"data":"abc"}') },
      { from: 'server' as const, opcode: 1 as const, bytes: Buffer.from('{oops') },
      { from: 'client' as const, opcode: 1 as const, bytes: Buffer.from('{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}') },
      { from: 'server' as const, opcode: 1 as const, bytes: Buffer.from('{"jsonrpc": "2.0", "result": 19, "id": 1}') },
    ];
    const events = session('/rpc', null, vectors);
    const eager = new AppViews();
    const views = events.flatMap((e) => eager.observe(e)).flatMap((n) => (n.kind === 'message' ? [n.view] : []));
    const expected = views.map((v) => rowApp(v, true));

    const view = load(events);
    const log = view.store.connections.get(1)!.logs.messages;
    const rows = [0, 1, 2, 3].map((i) => log.get(i)!);
    // Plain JSON (valid or not): nothing decoded at ingest. JSON-RPC: paired (the reply's latency is
    // known) but no tree kept.
    expect(rows.map((r) => r.app)).toEqual([undefined, undefined, expect.objectContaining({ results: null }), expect.objectContaining({ results: null, latencyMs: 10 })]);
    expect(rows.every((r) => typeof r.appLater === 'function')).toBe(true);

    // The list: plain JSON as its text, invalid JSON as undecodable, JSON-RPC by its summary and
    // latency. Only the plain JSON rows are decoded for it (JSON-RPC's line was kept at ingest).
    const cached = decodedRows();
    const shown = text(logLines(view, 200));
    expect(decodedRows() - cached).toBe(2);
    expect(shown).toContain('{"seq":1,"data":"abc"}');
    expect(shown).toContain('undecodable: not JSON');
    expect(shown).toContain('jsonrpc result #1 (reply in 10.0 ms)');
    expect(rows.map((r) => appOf(r))).toEqual(expected);
    // The detail pane: the tree.
    const detail = text(detailLines(rows[3]!, { store: view.store, log, framesLog: view.store.connections.get(1)!.logs.frames, payloadView: 'text' }, 120));
    expect(detail).toContain('decoded: jsonrpc result #1 (reply in 10.0 ms)');
    expect(detail).toContain('reply to "jsonrpc subtract #1" after 10.0 ms');
    expect(detail).toContain('  result: 19');
    expect(detail).not.toContain('tree not kept');

    // Search and the field filter decode what is not decoded yet.
    const again = load(events);
    const before = decodedRows();
    expect(await again.find('json \\{seq, data\\}')).toBe(true);
    // A search's pass over the rows does not push the rows on screen out of the cache.
    expect(decodedRows()).toBe(before);
    expect(again.selectedRow()!.event).toMatchObject({ from: 'client', length: 22 });
    again.setFieldFilter('method:subtract');
    expect(again.total()).toBe(1);
  });

  it('decoded trees are kept for a bounded number of rows, and decode again the same', () => {
    const n = DECODED_ROWS + 100;
    const view = load(session('/json', null, Array.from({ length: n }, (_, i) => ({ from: 'client' as const, opcode: 1 as const, bytes: Buffer.from(`{"seq":${i},"list":[1,2,3]}`) }))));
    const log = view.store.connections.get(1)!.logs.messages;
    const first = appOf(log.get(0)!);
    expect(first?.results?.[0]).toMatchObject({ ok: true, summary: 'json {seq, list}' });
    for (let i = 0; i < n; i++) appOf(log.get(i)!);
    expect(decodedRows()).toBe(DECODED_ROWS);
    const later = appOf(log.get(0)!);
    expect(later).not.toBe(first);
    expect(later).toEqual(first);
  });
});
