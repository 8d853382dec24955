/**
 * JSON (RFC 8259) with bounds: JSON.parse itself is fast and safe on size, but a deeply nested
 * document costs stack in every walk after it, so depth is checked on the text first.
 */
import type { JsonValue } from '../replay/json-path.js';
import { type DecodeLimits, DEFAULT_LIMITS } from './limits.js';
import { jsonBrief, withJsonTree } from './data-value.js';
import { type Decoded, type DecodeResult, guard, stop } from './types.js';

/** Nesting depth of the JSON text, stopping once it passes `max` (strings skipped). */
function depthWithin(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return false;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return true;
}

/** Items of the value, stopping once past `max`. */
function countWithin(v: JsonValue, max: number): boolean {
  let n = 0;
  const stack: JsonValue[] = [v];
  while (stack.length > 0) {
    const x = stack.pop()!;
    if (++n > max) return false;
    if (x !== null && typeof x === 'object') {
      for (const y of Array.isArray(x) ? (x as readonly JsonValue[]) : Object.values(x)) stack.push(y);
    }
  }
  return true;
}

/** Parses JSON text within the limits; `undefined` is never returned, problems throw DecodeStop. */
export function parseJsonBounded(text: string, limits: DecodeLimits = DEFAULT_LIMITS): JsonValue {
  if (text.length > limits.maxBytes) stop(`${text.length} characters (limit ${limits.maxBytes})`);
  if (!depthWithin(text, limits.maxDepth)) stop(`nested deeper than ${limits.maxDepth}`);
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch (error) {
    stop(`not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!countWithin(value, limits.maxItems)) stop(`more than ${limits.maxItems} values`);
  return value;
}

/** Whether text looks like a JSON object or array (cheap test for sniffing). */
export function looksLikeJson(text: string): boolean {
  const c = text.trimStart()[0];
  return c === '{' || c === '[';
}

/** The generic JSON view: `json {type, id, …}`. */
export function decodeJson(text: string, limits: DecodeLimits = DEFAULT_LIMITS): DecodeResult {
  return guard('json', () => decodeJsonValue(parseJsonBounded(text, limits)));
}

/** The generic JSON view of a value parsed within the limits (parseJsonBounded). */
export function decodeJsonValue(value: JsonValue): Decoded {
  return withJsonTree({ ok: true, view: 'json', summary: `json ${jsonShape(value)}`, fields: {}, json: value } as const, value, 'json');
}

/** `{a, b, …}` for objects, `[3]` for arrays, the value for scalars. */
export function jsonShape(v: JsonValue): string {
  if (v === null || typeof v !== 'object') return jsonBrief(v);
  if (Array.isArray(v)) return `[${(v as readonly JsonValue[]).length}]`;
  const keys = Object.keys(v);
  return `{${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', …' : ''}}`;
}
