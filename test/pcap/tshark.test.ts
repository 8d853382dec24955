/**
 * frametap's pcapng as Wireshark reads it (issue 14): real `ws` peers through the recording relay
 * at many chunkings, one file, `tshark -T json -x` run once. Every WebSocket frame of both legs is
 * dissected with no "Decode As" and equals frametap's frame events; messages inflate to the same
 * bytes; no TCP analysis flag and every checksum good; the violation is a packet comment.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { itWith } from '../helpers/system-deps.js';
import { legAddresses } from '../../src/pcap/ftap-records.js';
import { recordScenario, type Line, type Recorded } from './record.js';

const run = promisify(execFile);
const CHUNKINGS = [null, 1, 2, 3, 5, 7, 64, 1000] as const;

interface WireFrame {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  maskKey: string | null;
  length: number;
  payload: string;
}

interface Packet {
  conn: number;
  leg: 'client' | 'upstream';
  from: 'client' | 'server';
  frames: WireFrame[];
  texts: (string | null)[];
  flags: boolean;
  checksumsGood: boolean;
  comment: string | null;
}

let rec: Recorded;
let packets: Packet[] = [];

type Layers = Record<string, unknown>;

function field(obj: Layers, name: string): string | undefined {
  const v = obj[name];
  return typeof v === 'string' ? v : undefined;
}

function toFrame(ws: Layers): WireFrame {
  const rsv = Number(field(ws, 'websocket.rsv') ?? '0');
  const len7 = Number(field(ws, 'websocket.payload_length'));
  const length = len7 === 126 ? Number(field(ws, 'websocket.payload_length_ext_16')) : len7 === 127 ? Number(field(ws, 'websocket.payload_length_ext_64')) : len7;
  const raw = ws['websocket.payload_raw'] as [string] | undefined;
  const key = field(ws, 'websocket.masking_key');
  return {
    fin: field(ws, 'websocket.fin') === '1',
    rsv1: (rsv & 4) !== 0,
    rsv2: (rsv & 2) !== 0,
    rsv3: (rsv & 1) !== 0,
    opcode: Number(field(ws, 'websocket.opcode')),
    masked: field(ws, 'websocket.mask') === '1',
    maskKey: key ? key.replace(/:/g, '') : null,
    length,
    payload: raw ? raw[0] : '',
  };
}

function textOf(ws: Layers): string | null {
  const p = ws['websocket.payload'] as Layers | undefined;
  return p && typeof p === 'object' ? (field(p, 'websocket.payload.text') ?? null) : null;
}

beforeAll(async () => {
  rec = await recordScenario(CHUNKINGS);
  const whereIs = new Map<string, { conn: number; leg: 'client' | 'upstream'; from: 'client' | 'server' }>();
  for (let conn = 1; conn <= rec.reset; conn++) {
    const legs = legAddresses(conn);
    for (const leg of ['client', 'upstream'] as const) {
      whereIs.set(legs[leg].client.split(':')[0]!, { conn, leg, from: 'client' });
    }
  }
  const tshark = await run('tshark', ['-r', rec.file, '-T', 'json', '-x', '--no-duplicate-keys', '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE'], { maxBuffer: 512 * 1024 * 1024 }).catch(() => null);
  if (tshark === null) return;
  const parsed = JSON.parse(tshark.stdout) as { _source: { layers: Layers } }[];
  packets = parsed.map(({ _source: { layers } }) => {
    const ip = layers.ip as Layers;
    const tcp = layers.tcp as Layers;
    const src = whereIs.get(field(ip, 'ip.src')!);
    const dst = whereIs.get(field(ip, 'ip.dst')!);
    const where = src ?? { ...dst!, from: 'server' as const };
    const wsLayer = layers.websocket;
    const list = (wsLayer === undefined ? [] : Array.isArray(wsLayer) ? wsLayer : [wsLayer]) as Layers[];
    const frame = layers.frame as Layers;
    const comment = JSON.stringify(layers).match(/frametap: violation [^"]*/);
    return {
      ...where,
      frames: list.map(toFrame),
      texts: list.map(textOf),
      flags: 'tcp.analysis' in tcp && JSON.stringify(tcp['tcp.analysis']).includes('tcp.analysis.flags'),
      checksumsGood: field(tcp, 'tcp.checksum.status') === '1' && field(ip, 'ip.checksum.status') === '1',
      comment: comment ? comment[0] : frame['frame.comment'] !== undefined ? String(frame['frame.comment']) : null,
    };
  });
});

afterAll(() => {
  if (rec) fs.rmSync(rec.dir, { recursive: true, force: true });
});

/** frametap's frames of one sender, with the payload as hex (from the message when the frame leaves it there). */
function liveFrames(conn: number, from: string): WireFrame[] {
  const events = rec.live.filter((e) => e.conn === conn && e.from === from && (e.type === 'frame' || e.type === 'message'));
  const frames: WireFrame[] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.type !== 'frame') continue;
    let payload = e.payload === undefined ? null : Buffer.from(String(e.payload), 'base64');
    if (payload === null) {
      const message = events.slice(i + 1).find((m) => m.type === 'message')!;
      payload = message.text !== undefined ? Buffer.from(String(message.text)) : Buffer.from(String(message.data), 'base64');
    }
    frames.push({
      fin: e.fin as boolean,
      rsv1: e.rsv1 as boolean,
      rsv2: e.rsv2 as boolean,
      rsv3: e.rsv3 as boolean,
      opcode: e.opcode as number,
      masked: e.masked as boolean,
      maskKey: (e.maskKey as string | undefined) ?? null,
      length: e.length as number,
      payload: payload.toString('hex'),
    });
  }
  return frames;
}

/** RFC 7692 §7.2.2: each message's payload + 00 00 ff ff, inflated with the sender's context kept. */
function inflateMessages(frames: readonly WireFrame[]): Buffer[] {
  const out: Buffer[] = [];
  const inflater = zlib.inflateRawSync;
  let window = Buffer.alloc(0);
  let parts: Buffer[] = [];
  let compressed = false;
  for (const f of frames) {
    if (f.opcode >= 8) continue;
    if (f.opcode !== 0) compressed = f.rsv1;
    parts.push(Buffer.from(f.payload, 'hex'));
    if (!f.fin) continue;
    const payload = Buffer.concat(parts);
    parts = [];
    if (!compressed) {
      out.push(payload);
      continue;
    }
    // Context takeover: inflate the history again with this message, keep only the new bytes.
    const history = Buffer.concat([window, payload, Buffer.from([0, 0, 0xff, 0xff])]);
    const all = inflater(history, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const before = window.length === 0 ? 0 : inflater(window, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).length;
    out.push(all.subarray(before));
    window = history;
  }
  return out;
}

function liveMessages(conn: number, from: string): Buffer[] {
  return rec.live
    .filter((e): e is Line => e.conn === conn && e.from === from && e.type === 'message')
    .map((m) => (m.text !== undefined ? Buffer.from(String(m.text)) : Buffer.from(String(m.data), 'base64')));
}

describe('a frametap pcapng in tshark', () => {
  itWith('tshark')('dissects every frame of both legs as frametap saw it, at every chunking', () => {
    expect(packets.length).toBeGreaterThan(0);
    for (let conn = 1; conn <= rec.reset; conn++) {
      for (const leg of ['client', 'upstream'] as const) {
        for (const from of ['client', 'server'] as const) {
          const seen = packets.filter((p) => p.conn === conn && p.leg === leg && p.from === from).flatMap((p) => p.frames);
          const expected = liveFrames(conn, from);
          expect(expected.length, `conn ${conn} ${from}`).toBeGreaterThan(0);
          // Before the coordinator's reshape frame events carry no maskKey: compare it when they do.
          const cmp = (f: WireFrame): WireFrame => ({ ...f, maskKey: expected[0]!.maskKey === null ? null : f.maskKey });
          expect(seen.map(cmp), `conn ${conn} (chunking ${String(rec.chunkings[conn - 1] ?? 'none')}) ${leg} leg, ${from}'s frames`).toEqual(expected);
        }
      }
    }
  });

  itWith('tshark')('has the messages frametap saw (text as tshark inflates it; all by inflating its frames)', () => {
    for (let conn = 1; conn <= rec.reset; conn++) {
      for (const leg of ['client', 'upstream'] as const) {
        for (const from of ['client', 'server'] as const) {
          const mine = packets.filter((p) => p.conn === conn && p.leg === leg && p.from === from);
          const frames = mine.flatMap((p) => p.frames);
          const messages = liveMessages(conn, from);
          expect(inflateMessages(frames).map((b) => b.toString('hex')), `conn ${conn} ${leg} ${from}`).toEqual(messages.map((b) => b.toString('hex')));
          // Whole text messages in one frame: tshark's own inflated text.
          const single = mine.flatMap((p) => p.frames.map((f, i) => ({ f, text: p.texts[i] }))).filter(({ f }) => f.opcode === 1 && f.fin);
          const liveSingle = rec.live.filter((e) => e.conn === conn && e.from === from && e.type === 'message' && e.frames === 1 && e.opcode === 1);
          expect(single.map((s) => s.text)).toEqual(liveSingle.map((m) => m.text));
        }
      }
    }
  });

  itWith('tshark')('needs no TCP analysis: no flags, every IPv4 and TCP checksum good', () => {
    expect(packets.filter((p) => p.flags)).toEqual([]);
    expect(packets.filter((p) => !p.checksumsGood)).toEqual([]);
  });

  itWith('tshark')('shows the violation as a comment on the upstream-leg packet that carried it', () => {
    const commented = packets.filter((p) => p.comment !== null);
    expect(commented.map((p) => ({ conn: p.conn, leg: p.leg, from: p.from }))).toEqual([{ conn: rec.violation, leg: 'upstream', from: 'server' }]);
    expect(commented[0]!.comment).toContain('rsv2-rsv3-set');
    expect(commented[0]!.frames.some((f) => f.rsv2)).toBe(true);
  });
});
