/**
 * Records the scenario (test/pcap/scenario.ts) through the recording relay into a pcapng file with
 * the real writer, keeping the live events as capture lines would carry them (JSON objects).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EventBus } from '../../src/session/event-bus.js';
import type { SessionEvent } from '../../src/session/events.js';
import { PcapngWriter } from '../../src/pcap/pcapng-writer.js';
import { RECORDED_TYPES } from '../../src/pcap/pcapng-recorder.js';
import { captureHeader } from '../../src/capture/header.js';
import { encodeEventLine } from '../../src/capture/line-encoder.js';
import { startRecordingRelay } from './recording-relay.js';
import { startScenarioServer, talkDeflate, talkReset, talkViolation } from './scenario.js';

/** An event as a capture line carries it (payloads as base64 strings). */
export type Line = Record<string, unknown> & { type: string; conn?: number; from?: string };

export function asLine(event: SessionEvent): Line {
  return JSON.parse(encodeEventLine(event)!.toString('utf8')) as Line;
}

export interface Recorded {
  readonly dir: string;
  readonly file: string;
  /** Live events, capture-line shaped, in publish order. */
  readonly live: Line[];
  /** Connection ids by kind. */
  readonly deflate: readonly number[];
  readonly violation: number;
  readonly reset: number;
  /** Relay piece size per deflate connection (null: as read). */
  readonly chunkings: readonly (number | null)[];
}

/**
 * `concurrent`: the deflate connections talk at the same time (their blocks interleave in the file,
 * and their inflates overlap when read back), else one after the other.
 */
export async function recordScenario(chunkings: readonly (number | null)[], options: { readonly redact?: readonly string[]; readonly concurrent?: boolean } = {}): Promise<Recorded> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-pcap-'));
  const file = path.join(dir, 'scenario.pcapng');
  const bus = new EventBus();
  const writer = PcapngWriter.prepare(file).start(captureHeader('reverse', '127.0.0.1:0', 'ws://127.0.0.1:0'), { maxPayload: 1024 * 1024, ...(options.redact ? { redact: options.redact } : {}) });
  bus.subscribe('pcapng', (e) => writer.write(e), [...RECORDED_TYPES]);
  const live: Line[] = [];
  bus.subscribe('live', (e) => live.push(asLine(e)));
  const server = await startScenarioServer();
  const relay = await startRecordingRelay({ upstreamPort: server.port, bus, chunking: (conn) => chunkings[conn - 1] ?? null });
  try {
    if (options.concurrent) await Promise.all(chunkings.map(() => talkDeflate(relay.port)));
    else for (let i = 0; i < chunkings.length; i++) await talkDeflate(relay.port);
    await talkViolation(relay.port);
    await talkReset(relay.port);
    await relay.idle();
  } finally {
    await relay.close();
    await server.close();
    await writer.close();
  }
  const n = chunkings.length;
  return { dir, file, live, deflate: chunkings.map((_, i) => i + 1), violation: n + 1, reset: n + 2, chunkings };
}
