/**
 * Captures frametap did not write (issue 14): dumpcap records real `ws` peers talking directly on
 * the loopback interface, and `frametap view --ui jsonl` of the file shows the frames and messages
 * the peers sent, as if frametap had proxied them. The committed fixtures (fixtures/pcap/, made by
 * test/pcap/make-fixtures.ts) cover other link types and IPv6 where capturing is not allowed.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itWith } from '../helpers/system-deps.js';
import { recordWithDumpcap } from './dumpcap.js';
import { startScenarioServer, talkDeflate, type ScenarioServer } from './scenario.js';

const run = promisify(execFile);
const CLI = path.resolve('bin/frametap.js');

type Line = Record<string, unknown> & { type: string; conn?: number; from?: string };

/** What talkDeflate sends, in order; the server echoes each. */
export const SENT: readonly string[] = [
  Buffer.from('hello').toString('hex'),
  Buffer.from('hello hello hello').toString('hex'),
  Buffer.from('hello hello hello').toString('hex'),
  Buffer.from(Array.from({ length: 300 }, (_, i) => i & 255)).toString('hex'),
  Buffer.from('frag-one frag-two frag-three').toString('hex'),
  Buffer.alloc(70000, 'x').toString('hex'),
];

export async function view(file: string): Promise<{ lines: Line[]; stderr: string }> {
  const { stdout, stderr } = await run('node', [CLI, 'view', file, '--ui', 'jsonl'], { maxBuffer: 64 * 1024 * 1024 });
  return { lines: stdout.trim().split('\n').map((l) => JSON.parse(l) as Line), stderr };
}

export function messagesOf(lines: readonly Line[], from: string): string[] {
  return lines
    .filter((e) => e.type === 'message' && e.from === from)
    .map((m) => (m.text !== undefined ? Buffer.from(String(m.text)) : Buffer.from(String(m.data), 'base64')).toString('hex'));
}

let dir: string;
let server: ScenarioServer;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-foreign-'));
  server = await startScenarioServer();
});

afterAll(async () => {
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('a capture dumpcap recorded', () => {
  itWith('dumpcap')('shows the frames and messages the peers sent (loopback, Ethernet link type, pcapng)', async () => {
    const file = path.join(dir, 'lo.pcapng');
    await recordWithDumpcap({ iface: 'lo', port: server.port, file }, () => talkDeflate(server.port));
    const { lines, stderr } = await view(file);
    expect(stderr).toBe('');
    const types = lines.map((e) => e.type);
    expect(types.filter((t) => t === 'open')).toHaveLength(1);
    expect(lines.find((e) => e.type === 'open')).toMatchObject({ conn: 1, target: `ws://127.0.0.1:${server.port}/chat?room=1` });
    expect(lines.find((e) => e.type === 'handshake')).toMatchObject({ upgraded: true, accept: 'ok', extensions: [{ name: 'permessage-deflate' }] });
    expect(messagesOf(lines, 'client')).toEqual(SENT);
    expect(messagesOf(lines, 'server')).toEqual(SENT);
    // Fragments and control frames are there as frames.
    const clientFrames = lines.filter((e) => e.type === 'frame' && e.from === 'client');
    expect(clientFrames.map((f) => f.opcode)).toEqual([1, 1, 1, 2, 1, 0, 0, 9, 2, 8]);
    expect(clientFrames.every((f) => f.masked === true && typeof f.maskKey === 'string')).toBe(true);
    expect(lines.filter((e) => e.type === 'frame' && e.from === 'server').map((f) => f.opcode)).toEqual([1, 1, 1, 2, 1, 10, 2, 8]);
    expect(lines.filter((e) => e.type === 'violation' || e.type === 'error')).toEqual([]);
    expect(lines.find((e) => e.type === 'end')).toMatchObject({ code: 1000, reason: 'bye', initiator: 'client', clean: true, tcp: { client: 'fin', server: 'fin' } });
  });
});

describe('the committed real captures (fixtures/pcap)', () => {
  const FIXTURES = path.resolve('fixtures/pcap');
  const files = fs.existsSync(FIXTURES) ? fs.readdirSync(FIXTURES).filter((f) => /\.pcap(ng)?$/.test(f)) : [];

  it('has one per link type and format', () => {
    expect(files.sort()).toEqual(['any-sll.pcap', 'any-sll2.pcapng', 'lo-ethernet.pcap', 'lo-ipv6.pcapng']);
  });

  for (const name of files) {
    it(`${name}: the messages both peers sent`, async () => {
      const { lines, stderr } = await view(path.join(FIXTURES, name));
      expect(stderr).toBe('');
      expect(messagesOf(lines, 'client')).toEqual(FIXTURE_SENT);
      expect(messagesOf(lines, 'server')).toEqual(FIXTURE_SENT);
      expect(lines.find((e) => e.type === 'end')).toMatchObject({ code: 1000, clean: true });
    });
  }
});

/** What make-fixtures.ts sends (small, so the fixtures stay small). */
export const FIXTURE_SENT: readonly string[] = ['hello', 'hello hello hello', 'frag-one frag-two'].map((s) => Buffer.from(s).toString('hex'));
