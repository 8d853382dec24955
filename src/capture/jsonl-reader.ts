/**
 * Reads a capture (capture-format.md) back into the events it was written from. Streams the file
 * in large chunks and splits lines on bytes, so a capture of millions of lines is never one
 * string. Per the format's rules: a trailing partial line (a capture cut off by a crash or
 * `kill -9`) is skipped with one warning, and unknown `type`s and unknown fields are ignored.
 */
import * as fs from 'node:fs';
import { UsageError } from '../errors.js';
import type { CaptureHeader, SessionEvent, SessionEventType } from '../session/events.js';
import { fromCaptured, type CapturedEvent } from './capture-object.js';

/** One line of a capture with its place in the file (for random access with `readEventAt`). */
export interface CaptureLine {
  /** Byte offset of the line's first byte. */
  readonly offset: number;
  /** Byte length of the line, without its newline. */
  readonly length: number;
  readonly value: CaptureHeader | SessionEvent;
}

export interface ReadOptions {
  /** One line per problem (torn last line, a corrupt line); the reading goes on. */
  readonly onWarning?: (message: string) => void;
  /** Byte offset to start at (the start of a line, e.g. a `CaptureLine.offset`). */
  readonly start?: number;
}

const CHUNK = 1024 * 1024;
const NEWLINE = 0x0a;
const CR = 0x0d;

type FieldKind = 'number' | 'string' | 'boolean' | 'object' | 'number|null' | 'string|null' | 'object|null' | 'side';

/**
 * The fields a reader relies on, per type. A line of a known type that lacks one of them is
 * treated as corrupt (a warning), so consumers never meet an event missing a required field.
 */
const REQUIRED: Readonly<Record<Exclude<SessionEventType, 'chunk'> | 'capture', Readonly<Record<string, FieldKind>>>> = {
  capture: { format: 'string', version: 'number' },
  open: { conn: 'number', t: 'number', client: 'string', target: 'string' },
  handshake: { conn: 'number', t: 'number', request: 'object', response: 'object|null', upgraded: 'boolean', accept: 'string', extensions: 'object' },
  frame: { conn: 'number', t: 'number', from: 'side', fin: 'boolean', rsv1: 'boolean', rsv2: 'boolean', rsv3: 'boolean', opcode: 'number', masked: 'boolean', length: 'number', truncated: 'boolean' },
  message: { conn: 'number', t: 'number', from: 'side', opcode: 'number', compressed: 'boolean', frames: 'number', length: 'number', truncated: 'boolean' },
  close: { conn: 'number', t: 'number', from: 'side', code: 'number|null', reason: 'string' },
  violation: { conn: 'number', t: 'number', from: 'side', code: 'number', rule: 'string', detail: 'string' },
  error: { t: 'number', stage: 'string', detail: 'string' },
  end: { conn: 'number', t: 'number', code: 'number', reason: 'string', clean: 'boolean', durationMs: 'number', bytes: 'object', frames: 'object' },
  http: { conn: 'number', t: 'number', method: 'string', target: 'string', status: 'number|null', durationMs: 'number' },
  intercept: { conn: 'number', t: 'number', from: 'side', action: 'string', by: 'string' },
  tunnel: { conn: 'number', t: 'number', client: 'string', target: 'string', why: 'string', bytes: 'object', durationMs: 'number' },
};

function hasKind(value: unknown, kind: FieldKind): boolean {
  switch (kind) {
    case 'number':
      return typeof value === 'number';
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'object':
      return typeof value === 'object' && value !== null;
    case 'number|null':
      return value === null || typeof value === 'number';
    case 'string|null':
      return value === null || typeof value === 'string';
    case 'object|null':
      return value === null || typeof value === 'object';
    case 'side':
      return value === 'client' || value === 'server';
  }
}

type Parsed =
  | { readonly kind: 'value'; readonly value: CaptureHeader | SessionEvent }
  | { readonly kind: 'unknown' }
  | { readonly kind: 'corrupt'; readonly why: string };

function classify(line: string): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { kind: 'corrupt', why: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { kind: 'corrupt', why: 'not a JSON object' };
  const record = value as Record<string, unknown>;
  const type = record.type;
  if (typeof type !== 'string') return { kind: 'corrupt', why: 'no "type"' };
  if (!Object.hasOwn(REQUIRED, type)) return { kind: 'unknown' };
  const fields = REQUIRED[type as keyof typeof REQUIRED];
  for (const name in fields) {
    if (!hasKind(record[name], fields[name]!)) return { kind: 'corrupt', why: `${type} event without a valid "${name}"` };
  }
  if (type === 'capture') return { kind: 'value', value: value as CaptureHeader };
  return { kind: 'value', value: fromCaptured(value as CapturedEvent) };
}

/**
 * One capture line to its event or header; null for an unknown `type` (forward compatible) and
 * for a line that is not a well-formed event.
 */
export function parseCaptureLine(line: string): CaptureHeader | SessionEvent | null {
  const parsed = classify(line);
  return parsed.kind === 'value' ? parsed.value : null;
}

function openForReading(path: string, start: number): fs.ReadStream {
  try {
    const st = fs.statSync(path);
    if (st.isDirectory()) throw new UsageError(`cannot read capture '${path}': it is a directory`);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String((error as Error).message);
    throw new UsageError(`cannot read capture '${path}': ${why}`);
  }
  return fs.createReadStream(path, { start, highWaterMark: CHUNK });
}

/**
 * Every line of a capture, in file order, with byte offsets. Unknown types are skipped silently;
 * a corrupt line is skipped with a warning; a last line with no newline that does not parse is the
 * torn end of a cut-off capture: one warning, skipped.
 */
export async function* readCaptureLines(path: string, options: ReadOptions = {}): AsyncGenerator<CaptureLine> {
  const warn = options.onWarning ?? (() => {});
  const start = options.start ?? 0;
  const stream = openForReading(path, start);
  /** Bytes of a line that spans chunks (copied only then). */
  let carry: Buffer | null = null;
  /** File offset of `carry`'s first byte, or of the current chunk. */
  let offset = start;
  let lineNo = 0;
  try {
    for await (const piece of stream) {
      const chunk = piece as Buffer;
      const buf: Buffer = carry ? Buffer.concat([carry, chunk]) : chunk;
      carry = null;
      let from = 0;
      for (let nl = buf.indexOf(NEWLINE, from); nl !== -1; nl = buf.indexOf(NEWLINE, from)) {
        lineNo++;
        const line = lineAt(buf, from, nl, offset + from, lineNo, warn);
        if (line) yield line;
        from = nl + 1;
      }
      offset += from;
      if (from < buf.length) carry = buf.subarray(from);
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`cannot read capture '${path}': ${(error as Error).message}`);
  }
  if (carry && carry.length > 0) {
    lineNo++;
    const text = carry.toString('utf8').trim();
    if (text.length > 0) {
      const parsed = classify(text);
      if (parsed.kind === 'value') yield { offset, length: carry.length, value: parsed.value };
      else if (parsed.kind === 'corrupt') {
        warn(`${path}: the last line (${lineNo}) is cut off, as when a capture is interrupted; it was skipped`);
      }
    }
  }
}

function lineAt(
  buf: Buffer,
  from: number,
  nl: number,
  offset: number,
  lineNo: number,
  warn: (message: string) => void,
): CaptureLine | null {
  const end = nl > from && buf[nl - 1] === CR ? nl - 1 : nl;
  if (end === from) return null;
  const parsed = classify(buf.toString('utf8', from, end));
  if (parsed.kind === 'value') return { offset, length: nl - from, value: parsed.value };
  if (parsed.kind === 'corrupt') warn(`line ${lineNo}: ${parsed.why}; skipped`);
  return null;
}

/** A whole capture: its header (null when the first line is not one) and its events in order. */
export async function readCapture(
  path: string,
  options: { readonly onWarning?: (message: string) => void } = {},
): Promise<{ header: CaptureHeader | null; events: SessionEvent[] }> {
  let header: CaptureHeader | null = null;
  let first = true;
  const events: SessionEvent[] = [];
  for await (const line of readCaptureLines(path, options)) {
    const value = line.value;
    if (value.type === 'capture') {
      // Only the first line is the header; a later one (concatenated captures) is not an event.
      if (first) header = value;
    } else {
      events.push(value);
    }
    first = false;
  }
  return { header, events };
}

/**
 * Random access to one event by the offset and length the writer reported (`JsonlWriter.onLine`)
 * or the reader returned; null when those bytes are not an event (any more).
 */
export async function readEventAt(path: string, offset: number, length: number): Promise<SessionEvent | null> {
  const handle = await fs.promises.open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await handle.read(buf, got, length - got, offset + got);
      if (bytesRead === 0) return null;
      got += bytesRead;
    }
    const value = parseCaptureLine(buf.toString('utf8').trimEnd());
    return value && value.type !== 'capture' ? value : null;
  } finally {
    await handle.close();
  }
}
