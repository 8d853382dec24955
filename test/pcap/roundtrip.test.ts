/**
 * Round trips (issue 14): live → pcapng → `export --jsonl` gives the live events; JSON Lines →
 * `export --pcapng` → read back (and tshark) gives the JSON Lines' frames; `--redact` reaches the
 * recorded handshake bytes. Events are compared per connection, in order (wire order across both
 * directions); connections interleave differently, as the file's block order allows.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itWith } from '../helpers/system-deps.js';
import { asLine, recordScenario, type Line, type Recorded } from './record.js';
import { EventBus } from '../../src/session/event-bus.js';
import { replayPacketFile } from '../../src/pcap/read-file.js';

const run = promisify(execFile);
const CLI = path.resolve('bin/frametap.js');

let rec: Recorded;

beforeAll(async () => {
  rec = await recordScenario([null, 1, 7]);
});

afterAll(() => {
  if (rec) fs.rmSync(rec.dir, { recursive: true, force: true });
});

function readLines(file: string): Line[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line).filter((e) => e.type !== 'capture');
}

function expectSameEvents(actual: readonly Line[], expected: readonly Line[]): void {
  const conns = [...new Set(expected.map((e) => e.conn))];
  expect([...new Set(actual.map((e) => e.conn))].sort()).toEqual(conns.sort());
  for (const conn of conns) {
    if (conn === undefined) continue;
    // capture-format "Order": within a connection, wire order across both directions.
    expect(actual.filter((e) => e.conn === conn), `conn ${conn}`).toEqual(expected.filter((e) => e.conn === conn));
  }
}

describe('pcapng round trips', () => {
  it('reads back the events of the live run (same t, to the microsecond and below)', async () => {
    const bus = new EventBus();
    const read: Line[] = [];
    bus.subscribe('read', (e) => read.push(asLine(e)));
    const warnings: string[] = [];
    const { header, kind } = await replayPacketFile(rec.file, bus, { onWarning: (w) => warnings.push(w) });
    expect(kind).toBe('pcapng');
    expect(header?.mode).toBe('reverse');
    expect(warnings).toEqual([]);
    expectSameEvents(read, rec.live);
    // The 1006 reset and the violation are there as they happened.
    expect(read.find((e) => e.type === 'end' && e.conn === rec.reset)).toMatchObject({ code: 1006, tcp: { client: 'reset', server: 'cut' } });
    expect(read.find((e) => e.type === 'violation')).toMatchObject({ conn: rec.violation, rule: 'rsv2-rsv3-set' });
  });

  it('export --jsonl of the pcapng equals the live JSON Lines', async () => {
    const out = path.join(rec.dir, 'back.jsonl');
    await run('node', [CLI, 'export', rec.file, '--jsonl', out]);
    expectSameEvents(readLines(out), rec.live);
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
  });

  it('JSON Lines → export --pcapng → read back gives the same events', async () => {
    const jsonl = path.join(rec.dir, 'live.jsonl');
    fs.writeFileSync(jsonl, rec.live.map((e) => JSON.stringify(e)).join('\n') + '\n');
    const pcapng = path.join(rec.dir, 'rebuilt.pcapng');
    const { stderr } = await run('node', [CLI, 'export', jsonl, '--pcapng', pcapng]);
    expect(stderr).toContain('connections as packets');
    // Every mask key and payload was kept: byte-exact, nothing to say.
    expect(rec.live.filter((e) => e.type === 'frame' && e.masked === true && e.maskKey === undefined)).toEqual([]);
    expect(stderr.split('\n').filter((l) => l.includes('not byte-exact'))).toEqual([]);
    const back = path.join(rec.dir, 'rebuilt.jsonl');
    await run('node', [CLI, 'export', pcapng, '--jsonl', back]);
    expectSameEvents(readLines(back), rec.live);
  });

  itWith('tshark')('JSON Lines → export --pcapng: tshark dissects the frames of the JSON Lines', async () => {
    const pcapng = path.join(rec.dir, 'rebuilt.pcapng');
    if (!fs.existsSync(pcapng)) {
      const jsonl = path.join(rec.dir, 'live.jsonl');
      fs.writeFileSync(jsonl, rec.live.map((e) => JSON.stringify(e)).join('\n') + '\n');
      await run('node', [CLI, 'export', jsonl, '--pcapng', pcapng]);
    }
    const { stdout } = await run('tshark', ['-r', pcapng, '-T', 'fields', '-e', 'ip.src', '-e', 'websocket.opcode', '-e', 'websocket.payload_length', '-e', 'tcp.analysis.flags', '-Y', 'websocket || tcp.analysis.flags'], { maxBuffer: 64 * 1024 * 1024 });
    const rows = stdout.trim().split('\n').map((l) => l.split('\t'));
    expect(rows.filter((r) => (r[3] ?? '') !== '')).toEqual([]);
    // Each frame appears on both legs.
    const frames = rec.live.filter((e) => e.type === 'frame').length;
    const dissected = rows.reduce((n, r) => n + (r[1] === '' ? 0 : r[1]!.split(',').length), 0);
    expect(dissected).toBe(frames * 2);
  });
});

describe('pcapng round trip with deflate on several concurrent connections', () => {
  it('reads back the live events of each connection, and across connections in block order', async () => {
    const concurrent = await recordScenario([null, null, 1, 7], { concurrent: true });
    try {
      const bus = new EventBus();
      const read: Line[] = [];
      bus.subscribe('read', (e) => read.push(asLine(e)));
      const warnings: string[] = [];
      await replayPacketFile(concurrent.file, bus, { onWarning: (w) => warnings.push(w), readChunk: 4096 });
      expect(warnings).toEqual([]);
      expectSameEvents(read, concurrent.live);
      // The connections really overlapped in the file: their frames interleave.
      const frames = read.filter((e) => e.type === 'frame').map((e) => e.conn);
      const switches = frames.filter((c, i) => i > 0 && c !== frames[i - 1]).length;
      expect(switches).toBeGreaterThan(concurrent.deflate.length);
      // Block order is relay order: frames and messages of all connections in time-stamp order.
      const wire = read.filter((e) => e.type === 'frame' || e.type === 'message' || e.type === 'close') as (Line & { t: number })[];
      expect(wire.filter((e, i) => i > 0 && e.t < wire[i - 1]!.t)).toEqual([]);
      const out = path.join(concurrent.dir, 'back.jsonl');
      await run('node', [CLI, 'export', concurrent.file, '--jsonl', out]);
      expectSameEvents(readLines(out), concurrent.live);
    } finally {
      fs.rmSync(concurrent.dir, { recursive: true, force: true });
    }
  });
});

describe('replay and serve input', () => {
  it('loadCapture reads the pcapng (by magic) into the scripts replay and serve play', async () => {
    const { loadCapture } = await import('../../src/capture/load.js');
    const { buildScripts } = await import('../../src/replay/script.js');
    const copy = path.join(rec.dir, 'no-extension');
    fs.copyFileSync(rec.file, copy);
    const loaded = await loadCapture(copy);
    expect(loaded.source).toBe('pcapng');
    expect(loaded.header?.mode).toBe('reverse');
    const scripts = buildScripts(loaded.events);
    expect(scripts.map((s) => s.conn)).toEqual([1, 2, 3, 4, 5]);
  });
});

describe('export --pcapng of a capture that is not byte-exact', () => {
  it('says once on stderr what it could not rebuild exactly', async () => {
    const jsonl = path.join(rec.dir, 'nokeys.jsonl');
    // A capture from before mask keys were recorded, with one payload cut by --max-payload.
    let cut = false;
    const lines = rec.live.map((e) => {
      const { maskKey: _drop, ...rest } = e as Line & { maskKey?: string };
      if (!cut && rest.type === 'frame' && typeof rest.payload === 'string' && (rest.length as number) > 4) {
        cut = true;
        return { ...rest, payload: Buffer.from(String(rest.payload), 'base64').subarray(0, 2).toString('base64'), truncated: true };
      }
      return rest;
    });
    fs.writeFileSync(jsonl, lines.map((e) => JSON.stringify(e)).join('\n') + '\n');
    const { stderr } = await run('node', [CLI, 'export', jsonl, '--pcapng', path.join(rec.dir, 'nokeys.pcapng')]);
    const notes = stderr.split('\n').filter((l) => l.includes('not byte-exact'));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/masked frames? had no maskKey/);
    expect(notes[0]).toContain('1 payload was cut');
  });
});

describe('--redact in the recorded bytes', () => {
  it('replaces a redacted header value in the handshake heads of both legs', async () => {
    const redacted = await recordScenario([null], { redact: ['Sec-WebSocket-Key', 'room'] });
    try {
      const bytes = fs.readFileSync(redacted.file).toString('latin1');
      expect(bytes).toContain('Sec-WebSocket-Key: <redacted>');
      expect(bytes).toContain('GET /chat?room=<redacted> HTTP/1.1');
      expect(bytes.match(/Sec-WebSocket-Key: (?!<redacted>)/g)).toBeNull();
      const bus = new EventBus();
      const read: Line[] = [];
      bus.subscribe('read', (e) => read.push(asLine(e)));
      await replayPacketFile(redacted.file, bus);
      const hs = read.find((e) => e.type === 'handshake') as unknown as { request: { target: string; headers: [string, string][] } };
      expect(hs.request.target).toBe('/chat?room=<redacted>');
      expect(hs.request.headers).toContainEqual(['Sec-WebSocket-Key', '<redacted>']);
    } finally {
      fs.rmSync(redacted.dir, { recursive: true, force: true });
    }
  });
});
