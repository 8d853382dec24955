/**
 * Reads a pcap or pcapng file into the event stream: streamed in 1 MiB chunks through the block
 * parser and the packet replay, so memory stays flat however large the file. A cut-off last block
 * and a corrupt block are one warning each; what came before them is kept.
 */
import * as fs from 'node:fs';
import { UsageError } from '../errors.js';
import type { EventBus } from '../session/event-bus.js';
import type { CaptureHeader } from '../session/events.js';
import { DEFAULT_MAX_PAYLOAD } from '../protocol/constants.js';
import { CaptureParser, sniffCapture, type CaptureKind } from './block-reader.js';
import { PacketReplay } from './packet-replay.js';

const CHUNK = 1024 * 1024;

export interface PacketFileResult {
  readonly header: CaptureHeader | null;
  readonly kind: CaptureKind;
}

export async function replayPacketFile(
  path: string,
  bus: EventBus,
  options: {
    readonly onWarning?: (message: string) => void;
    readonly maxPayload?: number;
    /** Awaited between input chunks: a sink's backpressure (reading waits, nothing is dropped). */
    readonly ready?: () => Promise<void>;
    /** Checked between input chunks: true stops the reading there (the dashboard was quit). */
    readonly stopped?: () => boolean;
    /** Bytes read from the file at a time (default 1 MiB); events do not depend on it. */
    readonly readChunk?: number;
  } = {},
): Promise<PacketFileResult> {
  const warn = options.onWarning ?? (() => {});
  const parser = new CaptureParser();
  const replay = new PacketReplay({ bus, maxPayload: options.maxPayload ?? DEFAULT_MAX_PAYLOAD, onWarning: warn });
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(path, 'r');
  } catch (error) {
    throw new UsageError(`cannot read '${path}': ${(error as Error).message}`);
  }
  const size = Math.max(1, options.readChunk ?? CHUNK);
  let stopped = false;
  try {
    for (;;) {
      if (options.stopped?.()) {
        stopped = true;
        break;
      }
      // A fresh buffer per read: records are views into it and may be kept (held segments copy).
      const buf = Buffer.allocUnsafe(size);
      const { bytesRead } = await handle.read(buf, 0, size, null);
      if (bytesRead === 0) break;
      for (const record of parser.push(buf.subarray(0, bytesRead))) {
        // Block order across connections: a record waits for the connection fed before it to
        // deliver what it still owes (its inflates), so at most one connection is ever behind.
        const wait = replay.record(record);
        if (wait !== null) await wait;
      }
      if (parser.problem !== null) {
        warn(`${path}: ${parser.problem}`);
        break;
      }
      // A turn of the event loop between reads: sinks write, the dashboard's keys are read.
      await new Promise((resolve) => setImmediate(resolve));
      if (options.ready) await options.ready();
    }
  } finally {
    await handle.close();
  }
  // Stopped on purpose, the rest of the file is not "cut off".
  const cut = stopped ? null : parser.end();
  if (cut !== null) warn(`${path}: ${cut}`);
  await replay.finish();
  const kind = parser.kind;
  if (kind === null) {
    if (stopped) return { header: replay.header, kind: 'pcapng' };
    throw new UsageError(`'${path}' is empty`);
  }
  return { header: replay.header, kind };
}

/** The `capture` header of a frametap pcapng (its first record), from the file's first 64 KiB; null for other files. */
export async function peekPacketHeader(path: string): Promise<CaptureHeader | null> {
  const handle = await fs.promises.open(path, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    const parser = new CaptureParser();
    for (const record of parser.push(buf.subarray(0, bytesRead))) {
      if (record.kind === 'packet') return null;
      try {
        const value = JSON.parse(record.json) as { type?: unknown };
        if (value.type === 'capture') return value as CaptureHeader;
      } catch {
        return null;
      }
    }
    return null;
  } finally {
    await handle.close();
  }
}

/** Whether FILE is a pcapng or a pcap (by its magic number), or neither. */
export async function packetFileKind(path: string): Promise<CaptureKind | null> {
  const handle = await fs.promises.open(path, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await handle.read(buf, 0, 4, 0);
    return sniffCapture(buf.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}
