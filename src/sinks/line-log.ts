/**
 * `--ui log`: one human-readable line per event. `formatLogLine` is pure (events in, lines out);
 * `startLineLog` subscribes it to the bus and writes the lines, batched per event-loop turn.
 */
import { Opcode, OPCODE_NAMES, closeCodeName } from '../protocol/constants.js';
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
import { safeText } from '../render/safe-text.js';
import { frameBytes, messageData, messageText, tcpEndSummary } from '../session/event-data.js';

export interface LineLogStyle {
  /** ANSI colours (violations, errors, unclean ends). */
  readonly color: boolean;
  /** Clock of the HH:MM:SS.mmm column: UTC, or the local time zone (default). */
  readonly utc?: boolean;
}

/** Characters of payload shown per line. */
const PREVIEW_CHARS = 60;
/** Bytes of a payload previewed. */
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

/**
 * A short, escaped, single-line rendering of untrusted text as a quoted literal, cut with an
 * ellipsis: JSON-style escapes, and also DEL, C1, bidi and the other characters JSON.stringify
 * leaves raw (src/render/safe-text.ts).
 */
export function previewText(text: string, max = PREVIEW_CHARS): string {
  const cut = text.length > max;
  const body = quoted(cut ? text.slice(0, max) : text);
  return cut ? `${body}…` : body;
}

function quoted(text: string): string {
  return safeText(text, { quote: true, backslash: true });
}

/** An unquoted field from the wire or a file (address, target, reason phrase, rule, detail). */
function field(text: string): string {
  return safeText(text, { backslash: true });
}

function hexPreview(bytes: Buffer, more: boolean): string {
  const shown = bytes.subarray(0, HEX_BYTES);
  const hex = shown.toString('hex').replace(/(..)(?!$)/g, '$1 ');
  return `<${hex}${more || bytes.length > HEX_BYTES ? ' …' : ''}>`;
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
  // A HAR records no client address (har-reader gives ''): say so rather than print a blank.
  return `open ${e.client === '' ? '(client unknown)' : field(e.client)} → ${field(e.target)}`;
}

function formatHandshake(e: HandshakeEvent): string {
  if (!e.response) return 'handshake: no response from the upstream';
  const parts = [`handshake ${e.response.status} ${field(e.response.reason)}`.trimEnd()];
  if (!e.upgraded) {
    parts.push('(not upgraded)');
    return parts.join(' ');
  }
  parts.push(`accept ${e.accept}`);
  if (e.protocol !== null) parts.push(`protocol ${field(e.protocol)}`);
  for (const x of e.extensions) {
    const params = Object.entries(x.params).map(([k, v]) => (v === true ? k : `${k}=${v}`));
    parts.push(`ext ${field([x.name, ...params].join('; '))}`);
  }
  return parts.join(' ');
}

/** What a continuation frame continues (RFC 6455 §5.4: its kind is the first frame's opcode; RFC 7692 §6: RSV1 on the first frame). */
export interface MessageKind {
  readonly opcode: number;
  readonly compressed: boolean;
}

function formatFrame(e: FrameEvent, kind?: MessageKind): string {
  const parts = [`${arrow(e.from)} frame ${opcodeName(e.opcode)} ${flags(e)} ${size(e.length)}`];
  if (e.incomplete) parts.push(`INCOMPLETE (${e.received ?? 0} B arrived)`);
  const payload = frameBytes(e);
  if (payload !== null && payload.length > 0) {
    const bytes = payload.subarray(0, PREVIEW_BYTES);
    const more = e.truncated || bytes.length < (e.received ?? e.length) || payload.length > PREVIEW_BYTES;
    const continued = e.opcode === Opcode.Continuation ? kind : undefined;
    if (e.rsv1 || continued?.compressed) parts.push('(compressed)');
    else if (e.opcode === Opcode.Close && bytes.length >= 2) {
      const code = bytes.readUInt16BE(0);
      parts.push(closeLabel(code));
      if (bytes.length > 2) parts.push(textPreview(bytes.subarray(2), more));
    } else if (e.opcode === Opcode.Binary || (e.opcode === Opcode.Continuation && continued?.opcode !== Opcode.Text)) parts.push(hexPreview(bytes, more));
    else parts.push(textPreview(bytes, more));
  }
  return parts.join(' ');
}

/** `frameFlags`: the flags of the message's first frame, shown when its frames are not logged one by one. */
function formatMessage(e: MessageEvent, frameFlags?: string): string {
  const kind = e.opcode === Opcode.Text ? 'text' : 'binary';
  const parts = [`${arrow(e.from)} message ${kind}${frameFlags ? ` ${frameFlags}` : ''} ${size(e.length)}`];
  if (e.compressed) parts.push('deflate');
  if (e.frames > 1) parts.push(`${e.frames} frames`);
  const text = messageText(e);
  if (text !== null) {
    const p = previewText(text);
    parts.push(e.truncated && !p.endsWith('…') ? `${p}…` : p);
  } else {
    const data = messageData(e);
    const more = e.truncated || data.length > PREVIEW_BYTES;
    const bytes = data.subarray(0, PREVIEW_BYTES);
    parts.push(e.opcode === Opcode.Text ? `(invalid UTF-8) ${hexPreview(bytes, more)}` : hexPreview(bytes, more));
  }
  if (e.truncated) parts.push('(truncated)');
  return parts.join(' ');
}

function formatClose(e: CloseEvent, frameFlags?: string): string {
  const code = e.code === null ? 'no status (1005)' : closeLabel(e.code);
  return `${arrow(e.from)} close${frameFlags ? ` ${frameFlags}` : ''} ${code}${e.reason ? ` ${previewText(e.reason)}` : ''}`;
}

function formatViolation(e: ViolationEvent): string {
  const at = e.offset !== undefined ? ` at byte ${e.offset}` : '';
  return `${arrow(e.from)} VIOLATION ${field(e.rule)} → ${closeLabel(e.code)}${at}: ${field(e.detail)}`;
}

function formatError(e: ErrorEvent): string {
  const code = e.code ? ` ${field(e.code)}` : '';
  return `ERROR ${field(e.stage)}${code}: ${field(e.detail)}`;
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
  return `http ${field(e.method)} ${field(e.target)} ${e.status ?? 'no response'} ${e.durationMs.toFixed(1)} ms`;
}

/** What formatLogLine knows of the events before this one (LineLogFormatter keeps it). */
export interface LineContext {
  /** For a continuation frame: the message it continues. */
  readonly kind?: MessageKind;
  /** For a message or close whose frames were not logged: the flags of its first frame. */
  readonly frameFlags?: string;
}

/** One line (no newline) for one event. */
export function formatLogLine(event: SessionEvent, style: LineLogStyle, context: LineContext = {}): string {
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
      return head + paint(style.color && event.incomplete === true, YELLOW, formatFrame(event, context.kind));
    case 'message':
      return head + formatMessage(event, context.frameFlags);
    case 'close':
      return head + formatClose(event, context.frameFlags);
    case 'violation':
      return head + paint(style.color, BOLD_RED, formatViolation(event));
    case 'error':
      return head + paint(style.color, RED, formatError(event));
    case 'end':
      return head + paint(style.color && !event.clean, YELLOW, formatEnd(event));
    case 'http':
      return head + paint(style.color, DIM, formatHttp(event));
    case 'intercept':
      return head + paint(style.color, YELLOW, `intercept ${event.action} ${event.from} by ${field(event.by)}${event.name ? ` ${field(event.name)}` : ''}${event.detail ? `: ${field(event.detail)}` : ''}`);
    case 'tunnel':
      return head + paint(style.color, DIM, `tunnel ${field(event.target)} (${field(event.why)}) client ${size(event.bytes.client)}, server ${size(event.bytes.server)}, ${event.durationMs.toFixed(1)} ms`);
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

/**
 * Events in, log lines out, with what one line needs from earlier events: the kind of the message
 * a continuation frame belongs to, and, unless every frame is asked for, the flags of a message's
 * frames (which then get no line of their own: one line per message). Pure: no stream, no clock.
 */
export class LineLogFormatter {
  readonly #style: LineLogStyle;
  readonly #frames: boolean;
  /** Per `conn:from`: the message in progress. */
  readonly #open = new Map<string, { kind: MessageKind; flags: string; frames: number }>();
  /** Per `conn:from`: flags of a close frame waiting for its close event. */
  readonly #closing = new Map<string, string>();

  constructor(style: LineLogStyle, options: { readonly frames?: boolean } = {}) {
    this.#style = style;
    this.#frames = options.frames ?? false;
  }

  /** The lines for one event: none for a data frame whose message gets the line. */
  push(event: SessionEvent): string[] {
    switch (event.type) {
      case 'frame':
        return this.#frame(event);
      case 'message': {
        const key = `${event.conn}:${event.from}`;
        const open = this.#open.get(key);
        this.#open.delete(key);
        return [formatLogLine(event, this.#style, this.#frames || !open ? {} : { frameFlags: open.flags })];
      }
      case 'close': {
        const key = `${event.conn}:${event.from}`;
        const flagsOfFrame = this.#closing.get(key);
        this.#closing.delete(key);
        return [formatLogLine(event, this.#style, flagsOfFrame === undefined ? {} : { frameFlags: flagsOfFrame })];
      }
      case 'end': {
        const out: string[] = [];
        for (const from of ['client', 'server'] as const) {
          const key = `${event.conn}:${from}`;
          const open = this.#open.get(key);
          // Fragments of a message that never finished: say so, they had no line.
          if (open && !this.#frames && open.frames > 0) {
            out.push(`${clock(event.t, this.#style.utc)} #${event.conn} ${arrow(from)} ${open.frames} frame${open.frames === 1 ? '' : 's'} of an unfinished ${open.kind.opcode === Opcode.Text ? 'text' : 'binary'} message (${open.flags})`);
          }
          this.#open.delete(key);
          this.#closing.delete(key);
        }
        out.push(formatLogLine(event, this.#style));
        return out;
      }
      default:
        return [formatLogLine(event, this.#style)];
    }
  }

  #frame(e: FrameEvent): string[] {
    const key = `${e.conn}:${e.from}`;
    const data = e.opcode === Opcode.Continuation || e.opcode === Opcode.Text || e.opcode === Opcode.Binary;
    let open = this.#open.get(key);
    if (data && e.opcode !== Opcode.Continuation) {
      open = { kind: { opcode: e.opcode, compressed: e.rsv1 }, flags: flags(e), frames: 0 };
      this.#open.set(key, open);
    }
    // Frames the message line cannot stand for are always shown: cut off, or with no message begun.
    const shown = this.#frames || e.incomplete === true || (data && !open) || (!data && e.opcode !== Opcode.Close);
    if (data && open) open.frames++;
    if (e.opcode === Opcode.Close && !shown) this.#closing.set(key, flags(e));
    return shown ? [formatLogLine(e, this.#style, e.opcode === Opcode.Continuation && open ? { kind: open.kind } : {})] : [];
  }
}

export interface LineLogOptions {
  readonly bus: EventBus;
  readonly stream: NodeJS.WritableStream;
  /** Default: `wantsColor(stream)`. */
  readonly color?: boolean;
  readonly utc?: boolean;
  /** `--frames`: a line for every frame, not one line per message. */
  readonly frames?: boolean;
  /** Queued bytes above which the log asks the relay to slow down (default 1 MiB). */
  readonly highWaterMark?: number;
  /** Queued bytes below which it lets the relay go again (default 256 KiB). */
  readonly lowWaterMark?: number;
  /** How long close() waits for a stalled reader before dropping the rest (default 500 ms: cli.md's exit within 2 s). */
  readonly closeTimeoutMs?: number;
  /** Where the note about dropped lines goes (default stderr). */
  readonly warn?: (line: string) => void;
  /** Adds to an event's line and lines after it (the app-protocol view, src/sinks/app-log.ts). */
  readonly annotate?: (event: SessionEvent) => { readonly suffix: string | null; readonly extra: readonly string[] };
}

export interface LineLog {
  /** Lines not tied to an event (the app view's unanswered requests), through the same queue. */
  writeLines(lines: readonly string[]): void;
  /** true: the queue is over its high-water mark (the reader is slow), slow the relay; false: drained. */
  onPressure(cb: (high: boolean) => void): () => void;
  /**
   * Unsubscribes and writes what is queued. The log is a view, not a record: if the reader does not
   * take it within `closeTimeoutMs`, the rest is dropped with a note on stderr, so a stalled pipe
   * cannot keep frametap from exiting.
   */
  close(): Promise<void>;
}

let abandonedStdout = false;

/**
 * True once a line log gave up on a stdout nobody reads: a write is still pending on it, which
 * keeps the event loop (and so the process) alive, so the CLI exits explicitly when done.
 */
export function stdoutAbandoned(): boolean {
  return abandonedStdout;
}

/** Bytes handed to the stream per write: bounds what sits in the stream's own buffer. */
const MAX_BATCH = 64 * 1024;

/**
 * Subscribes the line log to every event of the bus. Lines go through a bounded queue, one write in
 * flight at a time (as the capture writer does, src/capture/jsonl-writer.ts): a reader that stops
 * reading (`| less` left open) raises pressure, which the owner turns into a slower relay, instead
 * of memory growing without bound.
 */
export function startLineLog(options: LineLogOptions): LineLog {
  const style: LineLogStyle = { color: options.color ?? wantsColor(options.stream), utc: options.utc ?? false };
  const formatter = new LineLogFormatter(style, { frames: options.frames ?? false });
  const stream = options.stream;
  const high = options.highWaterMark ?? 1024 * 1024;
  const low = Math.min(options.lowWaterMark ?? 256 * 1024, high);
  const warn = options.warn ?? ((line: string) => void process.stderr.write(`frametap: ${line}\n`));
  let queue: string[] = [];
  let queuedBytes = 0;
  let inFlight = false;
  let scheduled = false;
  let broken = false;
  let pressure = false;
  let pressureListeners: ((high: boolean) => void)[] = [];
  let drained: (() => void) | null = null;

  let told = false;
  const setPressure = (on: boolean): void => {
    if (pressure === on) return;
    pressure = on;
    if (on && !told) {
      told = true;
      warn('--ui log: the reader of stdout cannot keep up; slowing down until it does');
    }
    for (const l of pressureListeners) l(on);
  };
  const flush = (): void => {
    scheduled = false;
    if (inFlight || broken || queue.length === 0) {
      if (!inFlight && queue.length === 0) drained?.();
      return;
    }
    let n = 0;
    let bytes = 0;
    while (n < queue.length && (n === 0 || bytes + queue[n]!.length < MAX_BATCH)) bytes += queue[n++]!.length;
    const text = queue.slice(0, n).join('');
    queue = queue.slice(n);
    queuedBytes -= bytes;
    inFlight = true;
    // The callback runs once the stream has handed the chunk on: one batch in flight at a time.
    stream.write(text, () => {
      inFlight = false;
      if (pressure && queuedBytes < low) setPressure(false);
      flush();
    });
  };
  const unsubscribe = options.bus.subscribe('line log', (event) => {
    if (broken) return;
    const lines = formatter.push(event);
    // The app-protocol view (src/sinks/app-log.ts): a suffix on the event's line, lines after it.
    const more = options.annotate?.(event);
    if (more?.suffix && lines.length > 0) lines[lines.length - 1] += ` ${safeText(more.suffix)}`;
    if (more) for (const extra of more.extra) lines.push(safeText(extra));
    enqueue(lines);
  });
  // Declared after the subscription's closure, used only once events flow.
  function enqueue(lines: readonly string[]): void {
    for (const line of lines) {
      queue.push(`${line}\n`);
      queuedBytes += line.length + 1;
    }
    if (!pressure && queuedBytes > high) setPressure(true);
    if (!scheduled && !inFlight) {
      scheduled = true;
      // Gather the lines of one turn of the event loop into one write.
      setImmediate(flush);
    }
  }
  // A closed pipe (`frametap | head`) must not crash the proxy: the log just stops.
  const onError = (): void => {
    broken = true;
    unsubscribe();
    queue = [];
    queuedBytes = 0;
    setPressure(false);
    drained?.();
  };
  stream.on('error', onError);
  return {
    writeLines(lines) {
      if (!broken) enqueue(lines.map((l) => safeText(l)));
    },
    onPressure(cb) {
      pressureListeners = [...pressureListeners, cb];
      return () => {
        pressureListeners = pressureListeners.filter((l) => l !== cb);
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        unsubscribe();
        const finish = (): void => {
          clearTimeout(timer);
          drained = null;
          stream.removeListener('error', onError);
          setPressure(false);
          resolve();
        };
        const timer = setTimeout(() => {
          const lines = queue.length;
          queue = [];
          queuedBytes = 0;
          broken = true;
          warn(`--ui log: the reader of stdout stopped reading; ${lines} log line${lines === 1 ? '' : 's'} and the batch being written were dropped at exit`);
          // A write still pending on a pipe nobody reads would keep the process alive. process.stdout
          // cannot be destroyed (Node keeps fd 1 open), so the CLI exits once the command is done.
          if (stream === process.stdout) abandonedStdout = true;
          else (stream as unknown as { destroy?: () => void }).destroy?.();
          finish();
        }, options.closeTimeoutMs ?? 500);
        timer.unref?.();
        drained = finish;
        if (!inFlight && queue.length === 0) finish();
        else if (!inFlight && !scheduled) flush();
      }),
  };
}
