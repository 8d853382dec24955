/**
 * The small JSON-path subset `--ignore` accepts: `$` followed by `.name`, `['name']`, `["name"]`,
 * `[N]`, `[*]` and `.*` steps (`$.ts`, `$.data[*].id`, `$.a.b[0]`). Enough to name the volatile
 * fields of a JSON message (timestamps, ids); filters and recursive descent are not needed for that.
 */
import { UsageError } from '../errors.js';

export type PathStep =
  | { readonly kind: 'key'; readonly name: string }
  | { readonly kind: 'index'; readonly index: number }
  | { readonly kind: 'wildcard' };

export interface JsonPath {
  /** The path as the user wrote it, for messages. */
  readonly source: string;
  readonly steps: readonly PathStep[];
}

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** What an ignored array element becomes: positions stay, so later elements still line up. */
export const IGNORED = '<ignored>';

const NAME = /^[A-Za-z_$][\w$-]*/;

/** Parses a path; a path outside the subset is a UsageError naming the column. */
export function parseJsonPath(source: string): JsonPath {
  return parseJsonPathFor(source, '--ignore path');
}

/** parseJsonPath for another user of the subset: `what` names it in the error (`--rules FILE: rule 2: path`). */
export function parseJsonPathFor(source: string, what: string): JsonPath {
  const fail = (at: number, why: string): never => {
    throw new UsageError(
      `bad ${what} '${source}' at character ${at + 1}: ${why} (supported: $.name, $['name'], $.list[0], $.list[*].name, $.*)`,
    );
  };
  if (!source.startsWith('$')) fail(0, "a path starts with '$'");
  const steps: PathStep[] = [];
  let i = 1;
  while (i < source.length) {
    const c = source[i];
    if (c === '.') {
      if (source[i + 1] === '*') {
        steps.push({ kind: 'wildcard' });
        i += 2;
        continue;
      }
      const m = NAME.exec(source.slice(i + 1));
      if (!m) fail(i + 1, 'expected a field name after "."');
      steps.push({ kind: 'key', name: m![0] });
      i += 1 + m![0].length;
    } else if (c === '[') {
      const close = source.indexOf(']', i);
      if (close < 0) fail(i, "unclosed '['");
      const inner = source.slice(i + 1, close).trim();
      if (inner === '*') steps.push({ kind: 'wildcard' });
      else if (/^\d+$/.test(inner)) steps.push({ kind: 'index', index: Number(inner) });
      else if (/^'[^']*'$/.test(inner) || /^"[^"]*"$/.test(inner)) steps.push({ kind: 'key', name: inner.slice(1, -1) });
      else fail(i + 1, `expected a number, * or a quoted name inside [], got '${inner}'`);
      i = close + 1;
    } else {
      fail(i, `unexpected '${c}'`);
    }
  }
  if (steps.length === 0) fail(0, "'$' alone would ignore the whole message");
  return { source, steps };
}

/**
 * A copy of `value` without what `path` names: object fields are removed, array elements are
 * replaced by IGNORED. Values the path does not reach are returned unchanged (shared, not copied).
 */
export function withoutPath(value: JsonValue, path: JsonPath): JsonValue {
  return strip(value, path.steps, 0);
}

function strip(value: JsonValue, steps: readonly PathStep[], at: number): JsonValue {
  const step = steps[at]!;
  const last = at === steps.length - 1;
  if (Array.isArray(value)) {
    const list = value as readonly JsonValue[];
    if (step.kind === 'key') return value;
    return list.map((item, index) => {
      if (step.kind === 'index' && index !== step.index) return item;
      return last ? IGNORED : strip(item, steps, at + 1);
    });
  }
  if (value === null || typeof value !== 'object') return value;
  const record = value as { readonly [key: string]: JsonValue };
  if (step.kind === 'index') return value;
  const out: Record<string, JsonValue> = {};
  for (const key of Object.keys(record)) {
    const hit = step.kind === 'wildcard' || key === step.name;
    if (!hit) out[key] = record[key]!;
    else if (!last) out[key] = strip(record[key]!, steps, at + 1);
  }
  return out;
}
