/**
 * `--rules FILE` (cli.md "Changing the traffic"; docs/changing-traffic.md): a JSON list of
 * match → action rules, tried in order for each message; the first rule that matches acts
 * (`"continue": true` lets the rules after it act too). A mistake is one line naming the file,
 * the rule (index from 1, and its name) and what is wrong. The file is reloaded when it changes;
 * a bad file keeps the rules that were loaded and says why, once.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { parseJsonPathFor, type JsonPath, type JsonValue } from '../replay/json-path.js';
import type { Side } from '../session/events.js';
import type { Action, MessageView, OutMessage, Step, Verdict } from './actions.js';
import { setAt, valuesAt } from './json-edit.js';

export interface RuleMatch {
  readonly from: Side | null;
  readonly opcode: 1 | 2 | null;
  /** Tested against a text message's text; a binary message never matches. */
  readonly text: RegExp | null;
  readonly json: { readonly path: JsonPath; readonly equals?: JsonValue; readonly regex?: RegExp } | null;
  /** Tested against the connection's request target (path and query). */
  readonly path: RegExp | null;
}

export type RuleEdit =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'binary'; readonly data: Buffer }
  | { readonly kind: 'replace'; readonly regex: RegExp; readonly with: string }
  | { readonly kind: 'set'; readonly sets: ReadonlyArray<readonly [JsonPath, JsonValue]> };

export type RuleAction =
  | { readonly kind: 'drop' }
  | { readonly kind: 'edit'; readonly edits: readonly RuleEdit[] }
  | { readonly kind: 'delay'; readonly ms: number }
  | { readonly kind: 'respond'; readonly message: OutMessage; readonly forward: boolean }
  | { readonly kind: 'close'; readonly code: number; readonly reason: string; readonly toward: Side | 'both' }
  | { readonly kind: 'hold'; readonly timeoutMs: number | null | undefined };

export interface Rule {
  /** The rule's `name`, else `rule N`: the `name` of its intercept events. */
  readonly name: string;
  readonly match: RuleMatch;
  readonly action: RuleAction;
  readonly continue: boolean;
}

export interface RuleSet {
  readonly file: string;
  readonly rules: readonly Rule[];
}

const ACTIONS = ['drop', 'edit', 'delay', 'respond', 'close', 'hold'] as const;
const RULE_KEYS = new Set(['name', 'match', 'action', 'continue', 'text', 'base64', 'replace', 'set', 'ms', 'forward', 'code', 'reason', 'toward', 'timeout']);
const MATCH_KEYS = new Set(['from', 'opcode', 'text', 'json', 'path']);

/** Reads and checks a rules file; any problem is a UsageError. */
export function loadRules(file: string): RuleSet {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new UsageError(`bad --rules ${file}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  return parseRules(text, file);
}

/** Checks a rules file's text. */
export function parseRules(text: string, file: string): RuleSet {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`bad --rules ${file}: not JSON: ${(error as Error).message}`);
  }
  const list = Array.isArray(doc) ? doc : isObject(doc) && Array.isArray(doc.rules) ? doc.rules : null;
  if (list === null) throw new UsageError(`bad --rules ${file}: expected a list of rules, or {"rules": [...]}`);
  return { file, rules: list.map((raw: unknown, i: number) => parseRule(raw, i, file)) };
}

function parseRule(raw: unknown, i: number, file: string): Rule {
  const label = isObject(raw) && typeof raw.name === 'string' ? `rule ${i + 1} ("${raw.name}")` : `rule ${i + 1}`;
  const fail = (why: string): never => {
    throw new UsageError(`bad --rules ${file}: ${label}: ${why}`);
  };
  if (!isObject(raw)) return fail('expected an object like {"match": {...}, "action": "drop"}');
  for (const key of Object.keys(raw)) if (!RULE_KEYS.has(key)) fail(`unknown field '${key}'`);
  if (raw.name !== undefined && typeof raw.name !== 'string') fail("'name' must be a string");
  if (raw.continue !== undefined && typeof raw.continue !== 'boolean') fail("'continue' must be true or false");
  const match = parseMatch(raw.match, fail, `--rules ${file}: ${label}: json path`);
  const kind = raw.action;
  if (typeof kind !== 'string' || !(ACTIONS as readonly string[]).includes(kind)) {
    return fail(`'action' must be one of ${ACTIONS.join(', ')}${kind === undefined ? '' : ` (got ${JSON.stringify(kind)})`}`);
  }
  const only = (...allowed: string[]): void => {
    for (const key of Object.keys(raw)) {
      if (!['name', 'match', 'action', 'continue', ...allowed].includes(key)) fail(`'${key}' does not go with "action": "${kind}"`);
    }
  };
  let action: RuleAction;
  switch (kind as (typeof ACTIONS)[number]) {
    case 'drop':
      only();
      action = { kind: 'drop' };
      break;
    case 'edit': {
      only('text', 'base64', 'replace', 'set');
      const edits: RuleEdit[] = [];
      if (raw.text !== undefined) edits.push({ kind: 'text', text: str(raw.text, 'text', fail) });
      if (raw.base64 !== undefined) edits.push({ kind: 'binary', data: base64(raw.base64, fail) });
      if (edits.length > 1) fail("give 'text' or 'base64', not both");
      if (raw.replace !== undefined) {
        const list = Array.isArray(raw.replace) ? raw.replace : [raw.replace];
        for (const r of list) {
          if (!isObject(r) || typeof r.regex !== 'string' || typeof r.with !== 'string') fail(`'replace' takes {"regex": "...", "with": "..."} (or a list of them)`);
          const flags = r.flags === undefined ? 'g' : str(r.flags, 'replace.flags', fail);
          edits.push({ kind: 'replace', regex: regex(r.regex as string, 'replace.regex', fail, flags), with: r.with as string });
        }
      }
      if (raw.set !== undefined) {
        if (!isObject(raw.set) || Object.keys(raw.set).length === 0) fail(`'set' takes {"$.field": value, ...}`);
        const sets: Array<readonly [JsonPath, JsonValue]> = [];
        for (const [p, v] of Object.entries(raw.set as Record<string, JsonValue>)) sets.push([parseJsonPathFor(p, `--rules ${file}: ${label}: set path`), v]);
        edits.push({ kind: 'set', sets });
      }
      if (edits.length === 0) fail("an edit needs 'text', 'base64', 'replace' or 'set'");
      action = { kind: 'edit', edits };
      break;
    }
    case 'delay': {
      only('ms');
      if (typeof raw.ms !== 'number' || !Number.isFinite(raw.ms) || raw.ms < 0 || raw.ms > 2_147_483_647) fail("'ms' must be a number of milliseconds (0 to 2147483647)");
      action = { kind: 'delay', ms: raw.ms as number };
      break;
    }
    case 'respond': {
      only('text', 'base64', 'forward');
      if ((raw.text === undefined) === (raw.base64 === undefined)) fail("a response needs 'text' or 'base64' (one of them)");
      const message: OutMessage = raw.text !== undefined ? { opcode: 1, data: Buffer.from(str(raw.text, 'text', fail), 'utf8') } : { opcode: 2, data: base64(raw.base64, fail) };
      if (raw.forward !== undefined && typeof raw.forward !== 'boolean') fail("'forward' must be true or false");
      action = { kind: 'respond', message, forward: raw.forward === true };
      break;
    }
    case 'close': {
      only('code', 'reason', 'toward');
      const code = raw.code === undefined ? 1000 : raw.code;
      // RFC 6455 §7.4: 1000-1003, 1007-1014 and 3000-4999 may be sent; 1004-1006 and 1015 never.
      if (typeof code !== 'number' || !sendableCloseCode(code)) fail(`'code' must be a close code that may be sent (1000-1003, 1007-1014, 3000-4999), got ${JSON.stringify(code)}`);
      const reason = raw.reason === undefined ? '' : str(raw.reason, 'reason', fail);
      if (Buffer.byteLength(reason) > 123) fail("'reason' is longer than 123 bytes of UTF-8 (RFC 6455 §5.5: a close body fits 125)");
      const toward = raw.toward === undefined ? 'both' : raw.toward;
      if (toward !== 'client' && toward !== 'server' && toward !== 'both') fail(`'toward' must be "client", "server" or "both"`);
      action = { kind: 'close', code: code as number, reason, toward: toward as Side | 'both' };
      break;
    }
    case 'hold': {
      only('timeout');
      let timeoutMs: number | null | undefined;
      if (raw.timeout === null) timeoutMs = null;
      else if (raw.timeout !== undefined) {
        if (typeof raw.timeout !== 'number' || !(raw.timeout > 0) || raw.timeout > 2_147_483) fail("'timeout' must be a number of seconds, or null to hold until released");
        timeoutMs = (raw.timeout as number) * 1000;
      }
      action = { kind: 'hold', timeoutMs };
      break;
    }
  }
  return { name: typeof raw.name === 'string' ? raw.name : `rule ${i + 1}`, match, action: action!, continue: raw.continue === true };
}

function parseMatch(raw: unknown, fail: (why: string) => never, jsonWhat: string): RuleMatch {
  if (raw === undefined) return { from: null, opcode: null, text: null, json: null, path: null };
  if (!isObject(raw)) return fail("'match' must be an object");
  for (const key of Object.keys(raw)) if (!MATCH_KEYS.has(key)) fail(`unknown field 'match.${key}' (expected ${[...MATCH_KEYS].join(', ')})`);
  const from = raw.from === undefined ? null : raw.from;
  if (from !== null && from !== 'client' && from !== 'server') fail(`'match.from' must be "client" or "server"`);
  let opcode: 1 | 2 | null = null;
  if (raw.opcode !== undefined) {
    if (raw.opcode === 'text' || raw.opcode === 1) opcode = 1;
    else if (raw.opcode === 'binary' || raw.opcode === 2) opcode = 2;
    else fail(`'match.opcode' must be "text" or "binary"`);
  }
  const text = raw.text === undefined ? null : regex(str(raw.text, 'match.text', fail), 'match.text', fail);
  const urlPath = raw.path === undefined ? null : regex(str(raw.path, 'match.path', fail), 'match.path', fail);
  let json: RuleMatch['json'] = null;
  if (raw.json !== undefined) {
    const spec = typeof raw.json === 'string' ? { path: raw.json } : raw.json;
    if (!isObject(spec) || typeof spec.path !== 'string') return fail(`'match.json' takes a path ("$.type") or {"path": "$.type", "equals": value} or {"path": ..., "regex": "..."}`);
    for (const key of Object.keys(spec)) if (!['path', 'equals', 'regex'].includes(key)) fail(`unknown field 'match.json.${key}'`);
    json = {
      path: parseJsonPathFor(spec.path, jsonWhat),
      ...(spec.equals !== undefined ? { equals: spec.equals as JsonValue } : {}),
      ...(spec.regex !== undefined ? { regex: regex(str(spec.regex, 'match.json.regex', fail), 'match.json.regex', fail) } : {}),
    };
  }
  return { from: from as Side | null, opcode, text, json, path: urlPath };
}

/** Whether a rule of the set could act on what `from` sends on a connection to `target`. */
export function rulesMayApply(set: RuleSet, from: Side, target: string): boolean {
  return set.rules.some((r) => (r.match.from === null || r.match.from === from) && (r.match.path === null || test(r.match.path, target)));
}

/** The steps the rules ask for one message of a connection to `target`. */
export function rulesVerdict(set: RuleSet, view: MessageView, target: string, holdTimeoutMs: number | null): Verdict {
  const steps: Step[] = [];
  const parsed = lazyJson(view);
  for (const rule of set.rules) {
    if (!matches(rule.match, view, target, parsed)) continue;
    const step = toStep(rule, view, parsed, holdTimeoutMs);
    if (step !== null) steps.push(step);
    if (!rule.continue) break;
  }
  return steps;
}

/** Whether `m` holds for a message of a connection to `target` (rules and breakpoints). */
export function matchMessage(m: RuleMatch, view: MessageView, target: string): boolean {
  return matches(m, view, target, lazyJson(view));
}

/** The message's text as JSON, parsed on first ask and only once (null: not whole JSON text). */
function lazyJson(view: MessageView): () => { value: JsonValue } | null {
  let json: { value: JsonValue } | null | undefined;
  return () => {
    if (json !== undefined) return json;
    json = null;
    if (view.text !== null && !view.truncated) {
      try {
        json = { value: JSON.parse(view.text) as JsonValue };
      } catch {
        json = null;
      }
    }
    return json;
  };
}

function matches(m: RuleMatch, view: MessageView, target: string, parsed: () => { value: JsonValue } | null): boolean {
  if (m.from !== null && m.from !== view.from) return false;
  if (m.opcode !== null && m.opcode !== view.opcode) return false;
  if (m.path !== null && !test(m.path, target)) return false;
  if (m.text !== null && (view.text === null || !test(m.text, view.text))) return false;
  if (m.json !== null) {
    const doc = parsed();
    if (doc === null) return false;
    const values = valuesAt(doc.value, m.json.path);
    if (values.length === 0) return false;
    const { equals, regex: re } = m.json;
    if (equals !== undefined && !values.some((v) => sameJson(v, equals))) return false;
    if (re !== undefined && !values.some((v) => test(re, typeof v === 'string' ? v : JSON.stringify(v)))) return false;
  }
  return true;
}

function toStep(rule: Rule, view: MessageView, parsed: () => { value: JsonValue } | null, holdTimeoutMs: number | null): Step | null {
  const who = { by: 'rule' as const, name: rule.name };
  const a = rule.action;
  let action: Action;
  switch (a.kind) {
    case 'drop':
      action = { kind: 'drop' };
      break;
    case 'delay':
      action = { kind: 'delay', ms: a.ms };
      break;
    case 'respond':
      action = { kind: 'respond', message: a.message, forward: a.forward };
      break;
    case 'close':
      action = { kind: 'close', code: a.code, reason: a.reason, toward: a.toward };
      break;
    case 'hold':
      // Rules hold with a timeout unless they say null (issue 13: on for rules): a rule must never wedge a connection by itself.
      action = { kind: 'hold', timeoutMs: a.timeoutMs !== undefined ? a.timeoutMs : (holdTimeoutMs ?? DEFAULT_RULE_HOLD_MS) };
      break;
    case 'edit': {
      const edited = applyEdits(a.edits, view, parsed);
      if (edited === null) return null;
      action = { kind: 'edit', message: edited.message, detail: edited.detail };
      break;
    }
  }
  return { ...action, ...who };
}

/** A rule's hold without `timeout`, when `--hold-timeout` is not given either. */
export const DEFAULT_RULE_HOLD_MS = 30_000;

function applyEdits(edits: readonly RuleEdit[], view: MessageView, parsed: () => { value: JsonValue } | null): { message: OutMessage; detail: string } | null {
  let message: OutMessage | null = null;
  const details: string[] = [];
  let text = view.text;
  for (const edit of edits) {
    if (edit.kind === 'text') {
      message = { opcode: 1, data: Buffer.from(edit.text, 'utf8') };
      text = edit.text;
      details.push('replaced the text');
    } else if (edit.kind === 'binary') {
      message = { opcode: 2, data: edit.data };
      text = null;
      details.push('replaced the data');
    } else if (edit.kind === 'replace') {
      if (text === null || view.truncated) continue;
      const next = text.replace(edit.regex, edit.with);
      if (next !== text) details.push(`replaced /${edit.regex.source}/`);
      text = next;
      message = { opcode: 1, data: Buffer.from(text, 'utf8') };
    } else {
      let doc: JsonValue;
      if (message === null || text === view.text) {
        const p = parsed();
        if (p === null) continue;
        doc = p.value;
      } else {
        try {
          doc = JSON.parse(text ?? '') as JsonValue;
        } catch {
          continue;
        }
      }
      for (const [p, v] of edit.sets) {
        const r = setAt(doc, p, v);
        if (r.count > 0) details.push(`replaced ${p.source}`);
        doc = r.value;
      }
      text = JSON.stringify(doc);
      message = { opcode: 1, data: Buffer.from(text, 'utf8') };
    }
  }
  if (message === null || details.length === 0) return null;
  return { message, detail: details.join(', ') };
}

function sendableCloseCode(code: number): boolean {
  return Number.isInteger(code) && ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999));
}

function sameJson(a: JsonValue, b: JsonValue): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** `lastIndex` of a global regex must not carry from one message to the next. */
function test(re: RegExp, s: string): boolean {
  re.lastIndex = 0;
  return re.test(s);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown, field: string, fail: (why: string) => never): string {
  if (typeof v !== 'string') return fail(`'${field}' must be a string`);
  return v;
}

function regex(source: string, field: string, fail: (why: string) => never, flags = ''): RegExp {
  try {
    return new RegExp(source, flags);
  } catch (error) {
    return fail(`'${field}' is not a valid regex: ${(error as Error).message}`);
  }
}

function base64(v: unknown, fail: (why: string) => never): Buffer {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) return fail("'base64' must be a base64 string");
  return Buffer.from(v, 'base64');
}

/**
 * Reloads a rules file when it changes. Editors often save by writing a new file and renaming it
 * over the old one, so the folder is watched, not the file. A bad file keeps the rules in force and
 * is reported once (until the file loads again).
 */
export class RulesWatcher {
  readonly #file: string;
  readonly #onLoad: (set: RuleSet) => void;
  readonly #onProblem: (line: string) => void;
  readonly #watcher: fs.FSWatcher;
  #lastProblem: string | null = null;
  #lastText: string | null;
  #timer: NodeJS.Timeout | null = null;

  constructor(file: string, initialText: string | null, onLoad: (set: RuleSet) => void, onProblem: (line: string) => void) {
    this.#file = path.resolve(file);
    this.#onLoad = onLoad;
    this.#onProblem = onProblem;
    this.#lastText = initialText;
    this.#watcher = fs.watch(path.dirname(this.#file), { persistent: false }, (_event, name) => {
      if (name === null || name === path.basename(this.#file)) this.#schedule();
    });
    this.#watcher.on('error', (error) => this.#report(`--rules ${file}: cannot watch for changes any more: ${error.message}`));
  }

  /** Re-read now (tests, and a change event). */
  reload(): void {
    let text: string;
    try {
      text = fs.readFileSync(this.#file, 'utf8');
    } catch (error) {
      // Mid-rename the file can be briefly missing; the next event re-reads it.
      if ((error as { code?: string }).code === 'ENOENT') return;
      return this.#report(`--rules ${this.#file}: cannot read it (${(error as Error).message}); the previous rules stay in force`);
    }
    if (text === this.#lastText) return;
    try {
      const set = parseRules(text, this.#file);
      this.#lastText = text;
      this.#lastProblem = null;
      this.#onLoad(set);
    } catch (error) {
      this.#report(`${(error as Error).message}; the previous rules stay in force`);
    }
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#watcher.close();
  }

  /** Several events come for one save: read once they stop (a short debounce, not a correctness wait). */
  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.reload();
    }, 50);
  }

  #report(line: string): void {
    if (line === this.#lastProblem) return;
    this.#lastProblem = line;
    this.#onProblem(line);
  }
}
