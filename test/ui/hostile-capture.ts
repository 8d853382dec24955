/**
 * A capture file as a hostile peer (or a crafted file) can make one: every field a person reads
 * carries the hostile corpus, so a test can check none of it reaches the terminal raw.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SessionEvent } from '../../src/session/events.js';
import { cap } from '../helpers/captured.js';
import { HOSTILE, WIDE } from './hostile-corpus.js';
import { T0, exchange, frame, open } from './events.js';

const EVIL = '\x1b]0;pwned-title\x07\x1b]52;c;cHduZWQ=\x07\u009b7m{red-fg}';

/** Connection 1: hostile text in every field; connection 2: wide characters, one message each. */
export function hostileEvents(): SessionEvent[] {
  const events: SessionEvent[] = [
    { type: 'open', conn: 1, t: T0, client: `127.0.0.1:5000${EVIL}`, target: `ws://h/p${EVIL}` },
    {
      type: 'handshake',
      conn: 1,
      t: T0,
      request: { method: 'GET', target: `/p${EVIL}`, httpVersion: '1.1', headers: [['Host', 'h'], ['X-Evil', `v${EVIL}`], [`X-Name${EVIL}`, 'n']] },
      response: { status: 101, reason: `OK${EVIL}\x1b[2J`, httpVersion: '1.1', headers: [['Upgrade', 'websocket'], ['X-Evil', `r${EVIL}`]] },
      upgraded: true,
      accept: 'ok',
      protocol: `chat${EVIL}`,
      extensions: [],
    },
  ];
  for (const [, text] of HOSTILE) events.push(...exchange(1, 'server', text));
  events.push(
    { type: 'violation', conn: 1, t: T0 + 3, from: 'server', code: 1002, rule: `rule${EVIL}` as 'reserved-opcode', detail: `detail${EVIL}`, offset: 3 },
    { type: 'error', conn: 1, t: T0 + 3, stage: `relay${EVIL}` as 'relay', code: `E${EVIL}`, detail: `error${EVIL}`, from: 'server' },
    frame(1, 'server', 8, null, { payload: Buffer.concat([Buffer.from([0x0f, 0xa1]), Buffer.from(`bye${EVIL}`)]), length: 30 }),
    { type: 'close', conn: 1, t: T0 + 4, from: 'server', code: 4001, reason: `bye${EVIL}` },
    { type: 'end', conn: 1, t: T0 + 5, code: 4001, reason: `bye${EVIL}`, initiator: 'server', clean: false, durationMs: 5, bytes: { client: 0, server: 100 }, frames: { client: 0, server: 30 } },
    open(2, T0 + 10),
  );
  for (const [name, text] of WIDE) events.push(...exchange(2, 'client', `${name}: ${text} end`));
  return events;
}

/** Writes the events as a capture in a fresh temporary directory; returns its path. */
export async function writeHostileCapture(): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'frametap-hostile-'));
  const file = path.join(dir, 'hostile.jsonl');
  const header = { type: 'capture', format: 'frametap-capture', version: 1, started: new Date(T0).toISOString(), tool: { name: 'frametap', version: '0.1.0' }, mode: 'reverse', listen: '127.0.0.1:1', upstream: 'ws://h' };
  const lines = [header, ...hostileEvents().map(cap)].map((e) => JSON.stringify(e));
  await fsp.writeFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  return file;
}
