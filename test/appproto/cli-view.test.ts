/**
 * `frametap view FILE --ui log` with the app-protocol flags, as a user runs it: decoded summaries,
 * reply latencies, unanswered requests and usage errors (exit 2, one line).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import protobuf from 'protobufjs';
import { afterAll, describe, expect, it } from 'vitest';
import { mqttSession, protobufRoot } from './vectors.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/frametap.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-app-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 20_000, env: { ...process.env, NO_COLOR: '1', TZ: 'UTC' } }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const T0 = 1795597200000;

/** A capture of one connection: `messages` as [from, ms after open, text | Buffer]. */
function capture(name: string, protocol: string | null, target: string, messages: ReadonlyArray<readonly ['client' | 'server', number, string | Buffer]>): string {
  const lines: object[] = [
    { type: 'capture', format: 'frametap-capture', version: 1, started: new Date(T0).toISOString(), tool: { name: 'frametap', version: '0.1.0' }, mode: 'reverse', listen: '127.0.0.1:8080', upstream: 'ws://127.0.0.1:9001' },
    { type: 'open', conn: 1, t: T0, client: '127.0.0.1:5000', target: `ws://127.0.0.1:9001${target}` },
    { type: 'handshake', conn: 1, t: T0 + 1, request: { method: 'GET', target, httpVersion: '1.1', headers: [] }, response: { status: 101, reason: 'Switching Protocols', httpVersion: '1.1', headers: [] }, upgraded: true, accept: 'ok', protocol, extensions: [] },
  ];
  let last = T0 + 1;
  for (const [from, dt, payload] of messages) {
    last = T0 + dt;
    const body = typeof payload === 'string' ? { opcode: 1, text: payload, length: Buffer.byteLength(payload) } : { opcode: 2, data: payload.toString('base64'), length: payload.length };
    lines.push({ type: 'message', conn: 1, t: last, from, compressed: false, frames: 1, truncated: false, ...body });
  }
  lines.push({ type: 'end', conn: 1, t: last + 1, code: 1000, reason: '', initiator: 'client', clean: true, durationMs: last + 1 - T0, bytes: { client: 0, server: 0 }, frames: { client: 0, server: 0 } });
  const file = path.join(dir, name);
  fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return file;
}

describe('frametap view --ui log with app protocols', () => {
  it('MQTT from the subprotocol: summaries and latencies', async () => {
    const file = capture('mqtt.jsonl', 'mqtt', '/mqtt', mqttSession(5).map((v, i) => [v.from, 10 + i * 5, v.bytes] as const));
    const { code, stdout } = await run(['view', file, '--ui', 'log']);
    expect(code).toBe(0);
    expect(stdout).toContain('· MQTT CONNECT "dev-1" v5\n');
    expect(stdout).toContain('· MQTT PUBACK id 2 (reply in 5.00 ms)\n');
    expect(stdout).toMatch(/#1 pairs: 7 req \/ 7 rep, p50 5\.00 ms, p99 5\.00 ms\n/);
  });

  it("--pair '$.rid' and --pair-timeout: latency on the reply, unanswered requests", async () => {
    const file = capture('pair.jsonl', null, '/api', [
      ['client', 10, '{"rid":"a","op":"get"}'],
      ['client', 20, '{"rid":"b","op":"slow"}'],
      ['server', 35, '{"rid":"a","value":1}'],
      ['client', 3000, '{"op":"noise"}'],
    ]);
    const { code, stdout } = await run(['view', file, '--ui', 'log', '--pair', '$.rid', '--pair-timeout', '2']);
    expect(code).toBe(0);
    expect(stdout).toContain('· json {rid, value} (reply in 25.0 ms)\n');
    expect(stdout).toMatch(/#1 unanswered: json \{rid, op\} \(no reply in 2 s\)\n/);
    expect(stdout).toContain('#1 pairs: 2 req / 1 rep, p50 25.0 ms, p99 25.0 ms, 1 unanswered\n');
  });

  it('--proto/--proto-type decode binary payloads by schema; --view raw turns decoding off', async () => {
    const Envelope = protobufRoot().lookupType('demo.Envelope');
    const bytes = Buffer.from(Envelope.encode(Envelope.create({ id: 1, topic: 't' })).finish());
    const file = capture('pb.jsonl', null, '/pb', [['server', 10, bytes]]);
    const proto = path.join(dir, 'demo.proto');
    fs.writeFileSync(proto, 'syntax = "proto3";\npackage demo;\nmessage Envelope { uint64 id = 1; string topic = 2; }\n');
    expect(protobuf.loadSync(proto).lookupType('demo.Envelope')).toBeTruthy();
    const typed = await run(['view', file, '--ui', 'log', '--proto', proto, '--proto-type', 'demo.Envelope']);
    expect(typed.stdout).toContain('· protobuf demo.Envelope {id, topic}\n');
    const raw = await run(['view', file, '--ui', 'log']);
    expect(raw.stdout).toContain('· protobuf fields 1,2\n');
    expect((await run(['view', file, '--ui', 'log', '--view', 'proto'])).stdout).toContain('· protobuf fields 1,2\n');
    const off = await run(['view', file, '--ui', 'log', '--view', 'raw']);
    expect(off.stdout).not.toContain('·');
  });

  it('usage errors: one line, exit 2', async () => {
    const file = capture('u.jsonl', null, '/', []);
    for (const [args, message] of [
      [['--view', 'soap'], "frametap: bad --view 'soap': expected one of socketio, stomp, mqtt, graphql, jsonrpc, json, msgpack, cbor, protobuf, raw\n"],
      [['--pair', 'id'], "frametap: bad --pair path 'id' at character 1: a path starts with '$' (supported: $.name, $['name'], $.list[0], $.list[*].name, $.*)\n"],
      [['--pair-timeout', '0'], "frametap: bad --pair-timeout '0': expected a positive number of seconds\n"],
      [['--proto-type', 'A'], 'frametap: --proto-type needs --proto FILE\n'],
      [['--proto', path.join(dir, 'demo.proto'), '--proto-type', 'demo.Nope'], `frametap: --proto-type 'demo.Nope': no message type of that name in '${path.join(dir, 'demo.proto')}'\n`],
    ] as const) {
      const r = await run(['view', file, '--ui', 'log', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toBe(message);
    }
  });
});
