/**
 * Reading and setting the values a JSON path (src/replay/json-path.ts's subset) names, for rules
 * that match on or edit a field of a JSON message.
 */
import type { JsonPath, JsonValue, PathStep } from '../replay/json-path.js';

/** The values `path` reaches in `value`, in document order (none when it reaches nothing). */
export function valuesAt(value: JsonValue, path: JsonPath): JsonValue[] {
  const out: JsonValue[] = [];
  collect(value, path.steps, 0, out);
  return out;
}

function collect(value: JsonValue, steps: readonly PathStep[], at: number, out: JsonValue[]): void {
  if (at === steps.length) {
    out.push(value);
    return;
  }
  const step = steps[at]!;
  if (Array.isArray(value)) {
    const list = value as readonly JsonValue[];
    if (step.kind === 'wildcard') for (const item of list) collect(item, steps, at + 1, out);
    else if (step.kind === 'index' && step.index < list.length) collect(list[step.index]!, steps, at + 1, out);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const record = value as { readonly [key: string]: JsonValue };
  if (step.kind === 'wildcard') for (const key of Object.keys(record)) collect(record[key]!, steps, at + 1, out);
  else if (step.kind === 'key' && Object.hasOwn(record, step.name)) collect(record[step.name]!, steps, at + 1, out);
}

/**
 * A copy of `value` with what `path` names set to `replacement`; a missing last key is added to
 * its object, nothing else is created. Returns the count of values set with the copy.
 */
export function setAt(value: JsonValue, path: JsonPath, replacement: JsonValue): { readonly value: JsonValue; readonly count: number } {
  const counter = { count: 0 };
  const out = set(value, path.steps, 0, replacement, counter);
  return { value: out, count: counter.count };
}

function set(value: JsonValue, steps: readonly PathStep[], at: number, replacement: JsonValue, counter: { count: number }): JsonValue {
  const step = steps[at]!;
  const last = at === steps.length - 1;
  const next = (child: JsonValue): JsonValue => {
    if (last) {
      counter.count++;
      return replacement;
    }
    return set(child, steps, at + 1, replacement, counter);
  };
  if (Array.isArray(value)) {
    const list = value as readonly JsonValue[];
    if (step.kind === 'key') return value;
    return list.map((item, index) => (step.kind === 'wildcard' || index === step.index ? next(item) : item));
  }
  if (value === null || typeof value !== 'object') return value;
  const record = value as { readonly [key: string]: JsonValue };
  if (step.kind === 'index') return value;
  const out: Record<string, JsonValue> = {};
  for (const key of Object.keys(record)) out[key] = step.kind === 'wildcard' || key === step.name ? next(record[key]!) : record[key]!;
  if (step.kind === 'key' && last && !Object.hasOwn(record, step.name)) {
    out[step.name] = replacement;
    counter.count++;
  }
  return out;
}
