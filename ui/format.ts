/**
 * Pure formatters for the dashboard: every string a pane shows is built here, so it can be tested
 * without a screen (as mitmproxy's console/common.py does). No blessed import, no tags: panes add colour.
 */
import { messageText } from '../src/session/event-data.js';
import { OPCODE_NAMES, closeCodeName, isControlOpcode } from '../src/protocol/constants.js';
import type { FrameEvent, MessageEvent, Side } from '../src/session/events.js';

/** `→` client to server, `←` server to client. */
export function arrow(from: Side): string {
  return from === 'client' ? '→' : '←';
}

export function opcodeName(opcode: number): string {
  return OPCODE_NAMES[opcode] ?? `0x${opcode.toString(16)}`;
}

/** `12:03:04.123` in local time. */
export function formatClock(t: number): string {
  const d = new Date(t);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** 1024-based sizes: `512 B`, `1.5 KiB`, `3.2 MiB`. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** `850 ms`, `12.3 s`, `5m 03s`, `2h 05m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const totalS = Math.floor(s);
  if (totalS < 3600) return `${Math.floor(totalS / 60)}m ${pad2(totalS % 60)}s`;
  return `${Math.floor(totalS / 3600)}h ${pad2(Math.floor((totalS % 3600) / 60))}m`;
}

/** A rate per second: `0/s`, `850/s`, `12.4k/s`. */
export function formatRate(perSecond: number): string {
  if (perSecond < 1000) return `${Math.round(perSecond)}/s`;
  return `${(perSecond / 1000).toFixed(1)}k/s`;
}

/** `1000 Normal Closure`, with the reason quoted when there is one; null code = empty close body (1005). */
export function formatCloseLine(code: number | null, reason = ''): string {
  const c = code ?? 1005;
  const base = `${c} ${closeCodeName(c)}`;
  return reason ? `${base} "${oneLine(reason, 60)}"` : base;
}

/** FIN, RSV1-3 and MASK as five columns: `F1..M` (a dot when clear). */
export function formatFlags(f: Pick<FrameEvent, 'fin' | 'rsv1' | 'rsv2' | 'rsv3' | 'masked'>): string {
  return `${f.fin ? 'F' : '.'}${f.rsv1 ? '1' : '.'}${f.rsv2 ? '2' : '.'}${f.rsv3 ? '3' : '.'}${f.masked ? 'M' : '.'}`;
}

/** Replace control characters and collapse a payload to one line of at most `width` columns. */
export function oneLine(text: string, width: number): string {
  let out = '';
  for (const ch of text) {
    if (out.length >= width) return `${out.slice(0, Math.max(0, width - 1))}…`;
    const c = ch.codePointAt(0)!;
    if (c === 0x0a || c === 0x0d || c === 0x09) out += ' ';
    else if (c < 0x20 || c === 0x7f) out += '.';
    else out += ch;
  }
  return out;
}

/** Printable preview of binary bytes: hex of the first bytes. */
export function hexPreview(bytes: Uint8Array, width: number): string {
  const n = Math.min(bytes.length, Math.max(1, Math.floor((width + 1) / 3)));
  let out = '';
  for (let i = 0; i < n; i++) out += (i ? ' ' : '') + hexByte(bytes[i]!);
  return bytes.length > n ? `${out}…` : out;
}

/** The bytes as text when they are valid UTF-8 without control characters (other than tab and newlines). */
export function printableText(bytes: Uint8Array): string | null {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if ((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) || b === 0x7f) return null;
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
  return text.includes('\ufffd') ? null : text;
}

function hexByte(b: number): string {
  return b < 16 ? `0${b.toString(16)}` : b.toString(16);
}

/** Classic 16-bytes-per-line dump: offset, hex in two groups of eight, printable ASCII. */
export function hexDump(bytes: Uint8Array, maxLines = Infinity): string[] {
  const lines: string[] = [];
  for (let off = 0; off < bytes.length && lines.length < maxLines; off += 16) {
    let hex = '';
    let ascii = '';
    for (let i = 0; i < 16; i++) {
      const b = bytes[off + i];
      hex += i === 8 ? '  ' : i ? ' ' : '';
      if (b === undefined) {
        hex += '  ';
        continue;
      }
      hex += hexByte(b);
      ascii += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
    }
    lines.push(`${off.toString(16).padStart(8, '0')}  ${hex}  |${ascii}|`);
  }
  if (bytes.length > lines.length * 16) lines.push(`… ${bytes.length - lines.length * 16} more bytes`);
  return lines;
}

/** Pretty-printed JSON when `text` is a JSON object or array, else null. */
export function prettyJson(text: string): string | null {
  const first = text.trimStart()[0];
  if (first !== '{' && first !== '[') return null;
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return null;
  }
}

const NO_BYTES = Buffer.alloc(0);

/** A payload that may be absent, as bytes. */
export function bytesOf(bytes: Buffer | undefined): Buffer {
  return bytes ?? NO_BYTES;
}

/** `5 B`, or `compressed → inflated` for a compressed message. */
export function formatLength(length: number, inflated?: number): string {
  return inflated === undefined ? formatSize(length) : `${formatSize(length)} → ${formatSize(inflated)}`;
}

const TIME_W = 12;

/** One row of the frame log: time, arrow, opcode, flags, length, preview. */
export function formatFrameRow(e: FrameEvent, width: number, message?: MessageEvent, preview?: string): string {
  const name = opcodeName(e.opcode).padEnd(6);
  const len = formatSize(e.length).padStart(9);
  const head = `${formatClock(e.t).padEnd(TIME_W)} ${arrow(e.from)} ${name} ${formatFlags(e)} ${len}  `;
  const rest = Math.max(0, width - head.length);
  return head + framePreview(e, rest, message, preview);
}

function framePreview(e: FrameEvent, width: number, message?: MessageEvent, preview?: string): string {
  if (e.incomplete) return `incomplete: ${e.received ?? 0} of ${e.length} bytes arrived`;
  if (e.payload === undefined) {
    if (message) return preview !== undefined ? oneLine(preview, width) : messagePreview(message, width);
    return e.opcode === 1 || e.opcode === 2 ? '(payload in message)' : '';
  }
  const bytes = bytesOf(e.payload);
  if (e.opcode === 8) {
    if (bytes.length >= 2) return formatCloseLine(bytes.readUInt16BE(0), bytes.subarray(2).toString('utf8'));
    return bytes.length === 0 ? formatCloseLine(null) : 'invalid 1-byte close body';
  }
  if (e.rsv1) return `compressed: ${hexPreview(bytes, width - 12)}`;
  if (e.opcode !== 2) {
    const text = printableText(bytes);
    if (text !== null) return oneLine(text, width);
  }
  return hexPreview(bytes, width);
}

/** One row of the message log: time, arrow, kind, frame count, length (compressed flag), preview. */
export function formatMessageRow(e: MessageEvent, width: number, wireLength?: number, preview?: string): string {
  const name = (e.opcode === 1 ? 'text' : 'binary').padEnd(6);
  const info = `${e.frames > 1 ? `${e.frames}fr` : ''}${e.compressed ? ' z' : ''}`.trim().padEnd(6);
  // Compressed (RFC 7692): bytes on the wire → inflated length.
  const len = (e.compressed && wireLength !== undefined ? formatLength(wireLength, e.length) : formatSize(e.length)).padStart(9);
  const head = `${formatClock(e.t).padEnd(TIME_W)} ${arrow(e.from)} ${name} ${info} ${len}  `;
  const rest = Math.max(0, width - head.length);
  return head + (preview !== undefined ? oneLine(preview, rest) : messagePreview(e, rest));
}

export function messagePreview(e: MessageEvent, width: number): string {
  const text = messageText(e);
  if (text !== null) return oneLine(text, width);
  return hexPreview(e.data, width);
}
