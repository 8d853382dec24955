/**
 * Load a recorded session for `view`, `replay`, `serve` and `export`: a JSONL capture, a HAR with
 * WebSocket entries, or a packet capture (pcapng or pcap, frametap's or another tool's), told
 * apart by content (a packet capture by its magic number, a HAR is one JSON object with
 * `log.entries`), never by the file name.
 */
import * as fs from 'node:fs';
import { UsageError } from '../errors.js';
import type { CaptureHeader, SessionEvent } from '../session/events.js';
import { harToEvents, isHar } from './har-reader.js';
import { readCapture } from './jsonl-reader.js';
import { sniffCapture } from '../pcap/block-reader.js';
import { EventBus } from '../session/event-bus.js';
import { safeText } from '../render/safe-text.js';

export interface LoadedCapture {
  readonly header: CaptureHeader | null;
  readonly events: SessionEvent[];
  readonly source: 'jsonl' | 'har' | 'pcapng' | 'pcap';
}

export async function loadCapture(
  path: string,
  options: { readonly onWarning?: (message: string) => void } = {},
): Promise<LoadedCapture> {
  const format = await captureFormat(path);
  if (format === 'har') return loadHar(path, options.onWarning);
  if (format === 'packets') return loadPackets(path, options.onWarning);
  const { header, events } = await readCapture(path, options);
  return { header, events, source: 'jsonl' };
}

/** Whether FILE is a JSONL capture, a HAR or a packet capture (by content); a missing or unreadable file is a UsageError. */
export async function captureFormat(path: string): Promise<'jsonl' | 'har' | 'packets'> {
  let head: string;
  let magic: Buffer;
  try {
    const handle = await fs.promises.open(path, 'r');
    try {
      const buf = Buffer.alloc(SNIFF_BYTES);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      head = buf.toString('utf8', 0, bytesRead);
      magic = buf.subarray(0, Math.min(4, bytesRead));
    } finally {
      await handle.close();
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (error as Error).message;
    throw new UsageError(`cannot read '${path}': ${why}; expected a frametap capture (.jsonl, .pcapng), a HAR, or a pcap/pcapng`);
  }
  if (sniffCapture(magic) !== null) return 'packets';
  if (looksLikeHar(head)) return 'har';
  if (!looksLikeCaptureStart(head)) {
    throw new UsageError(`'${safeText(path)}' is neither a frametap capture nor a HAR (its first line is not a capture header or event)`);
  }
  return 'jsonl';
}

/** How much of a file's start decides what it is. */
const SNIFF_BYTES = 64 * 1024;

/**
 * A capture's first line is its `capture` header (capture-format.md), or at least a JSON event with
 * a `type`: anything else (`/etc/services`, a PNG) is not a capture, which is the user's mistake
 * (exit 2, one line, for every command that reads one) rather than a "not JSON" warning per line
 * and an empty export. An empty file passes (nothing recorded yet); so does a first line longer
 * than the sniffed head when it starts as an event would, since it cannot be judged whole here.
 */
function looksLikeCaptureStart(head: string): boolean {
  if (head.length === 0) return true;
  const end = head.indexOf('\n');
  const first = (end < 0 ? head : head.slice(0, end)).trim();
  if (end < 0 && head.length >= SNIFF_BYTES) return /^\{\s*"type"\s*:/.test(first);
  try {
    const value = JSON.parse(first) as unknown;
    return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
  } catch {
    return false;
  }
}

/** A capture's first line is a complete JSON object with a `type`; a HAR starts `{` + `"log"`. */
function looksLikeHar(head: string): boolean {
  const firstLine = head.split('\n', 1)[0]!.trim();
  try {
    const first = JSON.parse(firstLine) as unknown;
    if (typeof first === 'object' && first !== null && typeof (first as { type?: unknown }).type === 'string') return false;
    return isHar(first);
  } catch {
    return /^\s*\{\s*"log"\s*:/.test(head) || firstLine === '{';
  }
}

async function loadHar(path: string, onWarning?: (message: string) => void): Promise<LoadedCapture> {
  let har: unknown;
  try {
    har = JSON.parse(await fs.promises.readFile(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read HAR '${path}': ${(error as Error).message}`);
  }
  if (!isHar(har)) throw new UsageError(`'${path}' is neither a frametap capture nor a HAR (no log.entries)`);
  const events = harToEvents(har, onWarning);
  if (events.length === 0) {
    throw new UsageError(`HAR '${path}' has no WebSocket entries (record it with the page's WebSockets open)`);
  }
  return { header: null, events, source: 'har' };
}

/** A pcapng or pcap file: its connections rebuilt from the packets (src/pcap/packet-replay.ts). */
async function loadPackets(path: string, onWarning?: (message: string) => void): Promise<LoadedCapture> {
  const { replayPacketFile } = await import('../pcap/read-file.js');
  const bus = new EventBus();
  const events: SessionEvent[] = [];
  bus.subscribe('load', (event) => events.push(event));
  const { header, kind } = await replayPacketFile(path, bus, onWarning ? { onWarning } : {});
  return { header, events, source: kind };
}
