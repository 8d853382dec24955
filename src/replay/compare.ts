/**
 * `replay --check`: the server's answers now against the captured ones, message by message
 * (opcode, content, order) and the connection's close code, with a diff a person can read.
 */
import { closeCodeName, Opcode } from '../protocol/constants.js';
import { type JsonPath, type JsonValue, withoutPath } from './json-path.js';
import { maskText } from './ignore-regex.js';
import { jsonEnvelope } from '../appproto/envelope.js';

/** One data message as compared: the bytes kept and the true length. */
export interface AnswerMessage {
  readonly opcode: 1 | 2;
  readonly data: Buffer;
  /** True length; above `data.length` when the capture kept only a prefix (`--max-payload`). */
  readonly length: number;
}

/** What a server answered on one connection. */
export interface Answers {
  readonly messages: readonly AnswerMessage[];
  /**
   * The connection's close code as the capture's `end` counts it (1005 empty body, 1006 no close
   * frame); null when unknown (a HAR has no `end`), and then not compared.
   */
  readonly closeCode: number | null;
}

/** What `--check` leaves out of the comparison: JSON paths (`--ignore`) and text patterns (`--ignore-regex`). */
export interface IgnoreRules {
  readonly paths: readonly JsonPath[];
  readonly patterns: readonly RegExp[];
}

export const IGNORE_NOTHING: IgnoreRules = { paths: [], patterns: [] };

const ignoresAnything = (ignore: IgnoreRules): boolean => ignore.paths.length > 0 || ignore.patterns.length > 0;

export type Difference =
  | {
      readonly kind: 'message';
      /** 1-based position among the server's messages. */
      readonly index: number;
      readonly why: 'opcode' | 'content' | 'missing' | 'extra';
      readonly captured: AnswerMessage | null;
      readonly now: AnswerMessage | null;
    }
  | { readonly kind: 'close'; readonly captured: number; readonly now: number };

/** Every difference, in message order, then the close code. An empty list means the answers match. */
export function compareAnswers(captured: Answers, now: Answers, ignore: IgnoreRules = IGNORE_NOTHING): Difference[] {
  const out: Difference[] = [];
  const n = Math.max(captured.messages.length, now.messages.length);
  for (let i = 0; i < n; i++) {
    const was = captured.messages[i] ?? null;
    const is = now.messages[i] ?? null;
    if (was === null || is === null) {
      out.push({ kind: 'message', index: i + 1, why: was === null ? 'extra' : 'missing', captured: was, now: is });
    } else if (was.opcode !== is.opcode) {
      out.push({ kind: 'message', index: i + 1, why: 'opcode', captured: was, now: is });
    } else if (!sameContent(was, is, ignore)) {
      out.push({ kind: 'message', index: i + 1, why: 'content', captured: was, now: is });
    }
  }
  if (captured.closeCode !== null && now.closeCode !== null && captured.closeCode !== now.closeCode) out.push({ kind: 'close', captured: captured.closeCode, now: now.closeCode });
  return out;
}

function sameContent(was: AnswerMessage, is: AnswerMessage, ignore: IgnoreRules): boolean {
  if (was.length !== is.length && !ignoresAnything(ignore)) return false;
  // A capture cut by --max-payload only knows a prefix: compare that and the true length.
  if (was.data.length < was.length) {
    return was.length === is.length && is.data.subarray(0, was.data.length).equals(was.data);
  }
  if (was.opcode === Opcode.Text && ignoresAnything(ignore)) {
    const a = masked(was.data, ignore);
    const b = masked(is.data, ignore);
    if (ignore.paths.length > 0) {
      const x = parseJson(a);
      const y = parseJson(b);
      if (x !== undefined && y !== undefined) return jsonEqual(stripAll(x, ignore.paths), stripAll(y, ignore.paths));
      // The JSON may sit inside an app protocol's envelope (socket.io `42["event",{…}]`, a STOMP body).
      const ea = jsonEnvelope(a.toString('utf8'));
      const eb = jsonEnvelope(b.toString('utf8'));
      if (ea !== undefined && eb !== undefined) return ea.head === eb.head && jsonEqual(stripAll(ea.json, ignore.paths), stripAll(eb.json, ignore.paths));
    }
    return a.equals(b);
  }
  return was.data.equals(is.data);
}

/** A text message with `--ignore-regex` matches masked (the bytes as they are without patterns). */
function masked(data: Buffer, ignore: IgnoreRules): Buffer {
  return ignore.patterns.length > 0 ? Buffer.from(maskText(data.toString('utf8'), ignore.patterns), 'utf8') : data;
}

function stripAll(value: JsonValue, ignore: readonly JsonPath[]): JsonValue {
  let v = value;
  for (const p of ignore) v = withoutPath(v, p);
  return v;
}

function parseJson(data: Buffer): JsonValue | undefined {
  const text = data.toString('utf8');
  const first = text.trimStart()[0];
  // Only objects and arrays have fields to ignore; a bare string or number compares as bytes.
  if (first !== '{' && first !== '[') return undefined;
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return undefined;
  }
}

/** Structural equality; object key order does not matter (JSON objects are unordered, RFC 8259 §4). */
function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const x = a as readonly JsonValue[];
    const y = b as readonly JsonValue[];
    return x.length === y.length && x.every((v, i) => jsonEqual(v, y[i]!));
  }
  const x = a as { readonly [k: string]: JsonValue };
  const y = b as { readonly [k: string]: JsonValue };
  const keys = Object.keys(x);
  if (keys.length !== Object.keys(y).length) return false;
  return keys.every((k) => Object.hasOwn(y, k) && jsonEqual(x[k]!, y[k]!));
}

const MAX_SHOWN = 2000;

/** A message for people: JSON pretty-printed, other text quoted, binary as hex; ignored parts masked. */
export function showMessage(m: AnswerMessage | null, ignore: IgnoreRules = IGNORE_NOTHING): string {
  if (m === null) return '(no message)';
  const cut = m.data.length < m.length ? ` (capture kept ${m.data.length} of ${m.length} bytes)` : '';
  if (m.opcode === Opcode.Binary) {
    const hex = m.data.subarray(0, 64).toString('hex').replace(/(..)(?!$)/g, '$1 ');
    return `binary ${m.length} bytes: ${hex}${m.data.length > 64 ? ' …' : ''}${cut}`;
  }
  const data = m.data.length < m.length ? m.data : masked(m.data, ignore);
  const json = parseJson(data);
  if (json !== undefined) {
    const shown = ignore.paths.length > 0 ? stripAll(json, ignore.paths) : json;
    return clip(JSON.stringify(shown, null, 2)) + cut;
  }
  const env = ignore.paths.length > 0 ? jsonEnvelope(data.toString('utf8')) : undefined;
  if (env !== undefined) return clip(`${JSON.stringify(env.head)} ${JSON.stringify(stripAll(env.json, ignore.paths), null, 2)}`) + cut;
  return clip(JSON.stringify(data.toString('utf8'))) + cut;
}

function clip(s: string): string {
  return s.length > MAX_SHOWN ? `${s.slice(0, MAX_SHOWN)} …` : s;
}

function indent(block: string, by: string): string {
  return block.replace(/\n/g, `\n${by}`);
}

/** The readable diff of `replay --check` for one connection. */
export function formatDifferences(conn: number, diffs: readonly Difference[], ignore: IgnoreRules = IGNORE_NOTHING): string {
  const lines: string[] = [];
  for (const d of diffs) {
    if (d.kind === 'close') {
      lines.push(
        `conn ${conn}: close code differs: captured ${d.captured} (${closeCodeName(d.captured)}), now ${d.now} (${closeCodeName(d.now)})`,
      );
      continue;
    }
    const head = {
      opcode: 'has a different type',
      content: 'differs',
      missing: 'was not sent by the server',
      extra: 'was not in the capture',
    }[d.why];
    lines.push(`conn ${conn}: server message #${d.index} ${head}`);
    lines.push(`  captured: ${indent(showMessage(d.captured, ignore), '            ')}`);
    lines.push(`  now:      ${indent(showMessage(d.now, ignore), '            ')}`);
  }
  return lines.join('\n');
}
