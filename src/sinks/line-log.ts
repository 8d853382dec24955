/**
 * `--ui log`: one human-readable line per event. `formatLogLine` is pure (events in, lines out);
 * `startLineLog` subscribes it to the bus and writes the lines, batched per event-loop turn.
 */
import { OPCODE_NAMES, closeCodeName } from '../protocol/constants.js';
import type { EventBus } from '../session/event-bus.js';
import type {
  CloseEvent,
  EndEvent,
  ErrorEvent,
  FrameEvent,
  HandshakeEvent,
  HttpEvent,
  MessageEvent,
  OpenEvent,
  SessionEvent,
  Side,
  ViolationEvent,
} from '../session/events.js';
import { utf8BoundaryLength } from '../capture/payload.js';
import { messageText, tcpEndSummary } from '../session/event-data.js';

export interface LineLogStyle {
  /** ANSI colours (violations, errors, unclean ends). */
  readonly color: boolean;
  /** Clock of the HH:MM:SS.mmm column: UTC, or the local time zone (default). */
  readonly utc?: boolean;
}

/** Characters of payload shown per line. */
const PREVIEW_CHARS = 60;
/** Bytes decoded for a preview: a multiple of 3, so a base64 prefix of 4/3 as many chars is exact. */
const PREVIEW_BYTES = 96;
const HEX_BYTES = 16;

const RED = '\x1b[31m';
const BOLD_RED = '\x1b[1;31m';
const YELLOW = '\x1b[33m';
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

/** client→server `→`, server→client `←`. */
export function arrow(from: Side): string {
  return from === 'client' ? '→' : '←';
}

export function opcodeName(opcode: number): string {
  return OPCODE_NAMES[opcode] ?? `op${opcode.toString(16).toUpperCase()}`;
}

/** `1000 (Normal Closure)`. */
export function closeLabel(code: number): string {
  return `${code} (${closeCodeName(code)})`;
}

export function clock(t: number, utc = false): string {
  const d = new Date(t);
  const [h, m, s, ms] = utc
    ? [d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()]
    : [d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()];
  return `${pad(h, 2)}:${pad(m, 2)}:${pad(s, 2)}.${pad(ms, 3)}`;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** A short, escaped, single-line rendering of text: JSON string escapes, cut with an ellipsis. */
export function previewText(text: string, max = PREVIEW_CHARS): string {
  const cut = text.length > max;
  // JSON.stringify escapes quotes, backslashes and every control character (newlines included).
  const body = JSON.stringify(cut ? text.slice(0, max) : text);
  return cut ? `${body}…` : body;
}

function hexPreview(bytes: Buffer, more: boolean): string {
  const shown = bytes.subarray(0, HEX_BYTES);
  const hex = shown.toString('hex').replace(/(..)(?!$)/g, '$1 ');
  return `<${hex}${more || bytes.length > HEX_BYTES ? ' …' : ''}>`;
}

/** The first bytes of a payload, as far as a preview shows them. */
function headBytes(bytes: Buffer): Buffer {
  return bytes.subarray(0, PREVIEW_BYTES);
}

function textPreview(bytes: Buffer, more: boolean): string {
  const end = more ? utf8BoundaryLength(bytes) : bytes.length;
  const text = bytes.toString('utf8', 0, end);
  const p = previewText(text);
  return more && !p.endsWith('…') ? `${p}…` : p;
}

function size(n: number): string {
  return `${n} B`;
}

function flags(e: FrameEvent): string {
  const f: string[] = [];
  if (e.fin) f.push('FIN');
  if (e.rsv1) f.push('RSV1');
  if (e.rsv2) f.push('RSV2');
  if (e.rsv3) f.push('RSV3');
  if (e.masked) f.push('MASK');
  return f.length > 0 ? f.join(',') : '-';
}

function paint(on: boolean, code: string, s: string): string {
  return on ? `${code}${s}${RESET}` : s;
}

function formatOpen(e: OpenEvent): string {
  return `open ${e.client} → ${e.target}`;
}

function formatHandshake(e: HandshakeEvent): string {
  if (!e.response) return 'handshake: no response from the upstream';
  const parts = [`handshake ${e.response.status} ${e.response.reason}`.trimEnd()];
  if (!e.upgraded) {
    parts.push('(not upgraded)');
    return parts.join(' ');
  }
  parts.push(`accept ${e.accept}`);
  if (e.protocol !== null) parts.push(`protocol ${e.protocol}`);
  for (const x of e.extensions) {
    const params = Object.entries(x.params).map(([k, v]) => (v === true ? k : `${k}=${v}`));
    parts.push(`ext ${[x.name, ...params].join('; ')}`);
  }
  return parts.join(' ');
}

function formatFrame(e: FrameEvent): string {
  const parts = [`${arrow(e.from)} frame ${opcodeName(e.opcode)} ${flags(e)} ${size(e.length)}`];
  if (e.incomplete) parts.push(`INCOMPLETE (${e.received ?? 0} B arrived)`);
  if (e.payload !== undefined && e.payload.length > 0) {
    const bytes = headBytes(e.payload);
    const more = e.truncated || bytes.length < (e.received ?? e.length) || e.payload.length > PREVIEW_BYTES;
    if (e.rsv1) parts.push('(compressed)');
    else if (e.opcode === 0x8 && bytes.length >= 2) {
      const code = bytes.readUInt16BE(0);
      parts.push(closeLabel(code));
      if (bytes.length > 2) parts.push(textPreview(bytes.subarray(2), more));
    } else if (e.opcode === 0x2) parts.push(hexPreview(bytes, more));
    else parts.push(textPreview(bytes, more));
  }
  return parts.join(' ');
}

function formatMessage(e: MessageEvent): string {
  const kind = e.opcode === 1 ? 'text' : 'binary';
  const parts = [`${arrow(e.from)} message ${kind} ${size(e.length)}`];
  if (e.compressed) parts.push('deflate');
  if (e.frames > 1) parts.push(`${e.frames} frames`);
  const text = messageText(e);
  if (text !== null) {
    const p = previewText(text);
    parts.push(e.truncated && !p.endsWith('…') ? `${p}…` : p);
  }
  else {
    const bytes = headBytes(e.data);
    const more = e.truncated || e.data.length > PREVIEW_BYTES;
    parts.push(e.opcode === 1 ? `(invalid UTF-8) ${hexPreview(bytes, more)}` : hexPreview(bytes, more));
  }
  if (e.truncated) parts.push('(truncated)');
  return parts.join(' ');
}

function formatClose(e: CloseEvent): string {
  const code = e.code === null ? 'no status (1005)' : closeLabel(e.code);
  return `${arrow(e.from)} close ${code}${e.reason ? ` ${previewText(e.reason)}` : ''}`;
}

function formatViolation(e: ViolationEvent): string {
  const at = e.offset !== undefined ? ` at byte ${e.offset}` : '';
  return `${arrow(e.from)} VIOLATION ${e.rule} → ${closeLabel(e.code)}${at}: ${e.detail}`;
}

function formatError(e: ErrorEvent): string {
  const code = e.code ? ` ${e.code}` : '';
  return `ERROR ${e.stage}${code}: ${e.detail}`;
}

function formatEnd(e: EndEvent): string {
  const parts = [`end ${closeLabel(e.code)}`];
  if (e.reason) parts.push(previewText(e.reason));
  parts.push(e.clean ? 'clean' : 'unclean');
  parts.push(e.initiator ? `closed by ${e.initiator}` : 'no close frame');
  const why = tcpEndSummary(e);
  if (why !== null && !e.clean && !e.shutdown) parts.push(`(${why})`);
  parts.push(`${e.durationMs.toFixed(1)} ms`);
  parts.push(`client ${size(e.bytes.client)}/${e.frames.client} frames, server ${size(e.bytes.server)}/${e.frames.server} frames`);
  if (e.shutdown) parts.push('(frametap shut down)');
  return parts.join(' ');
}

function formatHttp(e: HttpEvent): string {
  return `http ${e.method} ${e.target} ${e.status ?? 'no response'} ${e.durationMs.toFixed(1)} ms`;
}

/** One line (no newline) for one event. */
export function formatLogLine(event: SessionEvent, style: LineLogStyle): string {
  const time = clock(event.t, style.utc);
  const conn = event.conn !== undefined ? `#${event.conn}` : '--';
  const head = `${time} ${conn} `;
  switch (event.type) {
    case 'open':
      return head + formatOpen(event);
    case 'handshake': {
      const body = formatHandshake(event);
      const bad = !event.upgraded || event.accept !== 'ok';
      return head + paint(style.color && bad, YELLOW, body);
    }
    case 'frame':
      return head + paint(style.color && event.incomplete === true, YELLOW, formatFrame(event));
    case 'message':
      return head + formatMessage(event);
    case 'close':
      return head + formatClose(event);
    case 'violation':
      return head + paint(style.color, BOLD_RED, formatViolation(event));
    case 'error':
      return head + paint(style.color, RED, formatError(event));
    case 'end':
      return head + paint(style.color && !event.clean, YELLOW, formatEnd(event));
    case 'http':
      return head + paint(style.color, DIM, formatHttp(event));
    case 'intercept':
      return head + paint(style.color, YELLOW, `intercept ${event.action} ${event.from} by ${event.by}${event.name ? ` ${event.name}` : ''}${event.detail ? `: ${event.detail}` : ''}`);
    case 'tunnel':
      return head + paint(style.color, DIM, `tunnel ${event.target} (${event.why}) client ${size(event.bytes.client)}, server ${size(event.bytes.server)}, ${event.durationMs.toFixed(1)} ms`);
    case 'chunk':
      return head + `chunk ${event.leg} leg from ${event.from} ${size(event.bytes.length)}`;
  }
}

/** NO_COLOR (https://no-color.org): present and not empty turns colour off. */
export function wantsColor(stream: NodeJS.WritableStream, env: NodeJS.ProcessEnv = process.env): boolean {
  const noColor = env.NO_COLOR;
  if (noColor !== undefined && noColor !== '') return false;
  return (stream as NodeJS.WriteStream).isTTY === true;
}

export interface LineLogOptions {
  readonly bus: EventBus;
  readonly stream: NodeJS.WritableStream;
  /** Default: `wantsColor(stream)`. */
  readonly color?: boolean;
  readonly utc?: boolean;
  /** Adds to an event's line and lines after it (the app-protocol view, src/sinks/app-log.ts). */
  readonly annotate?: (event: SessionEvent) => { readonly suffix: string | null; readonly extra: readonly string[] };
}

export interface LineLog {
  /** Unsubscribes and writes what is still batched. */
  close(): Promise<void>;
}

/** Subscribes the line log to every event of the bus. */
export function startLineLog(options: LineLogOptions): LineLog {
  const style: LineLogStyle = { color: options.color ?? wantsColor(options.stream), utc: options.utc ?? false };
  const stream = options.stream;
  let batch: string[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (batch.length === 0) return;
    const text = `${batch.join('\n')}\n`;
    batch = [];
    stream.write(text);
  };
  const unsubscribe = options.bus.subscribe('line log', (event) => {
    const line = formatLogLine(event, style);
    const more = options.annotate?.(event);
    batch.push(more?.suffix ? `${line} ${more.suffix}` : line);
    if (more) batch.push(...more.extra);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });
  // A closed pipe (`frametap | head`) must not crash the proxy: the log just stops.
  const onError = (): void => {
    unsubscribe();
  };
  stream.on('error', onError);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        unsubscribe();
        flush();
        stream.removeListener('error', onError);
        // Resolve once what was written has been handed to the OS.
        if (!stream.write('', () => resolve())) resolve();
      }),
  };
}
