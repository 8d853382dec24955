/**
 * Reading a value at a JSON path (the `--ignore` subset of src/replay/json-path.ts), for
 * `--pair '$.id'`: the first scalar the path reaches is the pairing key.
 */
import { UsageError } from '../errors.js';
import { type JsonPath, type JsonValue, parseJsonPath } from '../replay/json-path.js';

/** Parses a `--pair` path; the message names `--pair`, not `--ignore`. */
export function parsePairPath(source: string): JsonPath {
  try {
    return parseJsonPath(source);
  } catch (error) {
    if (error instanceof UsageError) throw new UsageError(error.message.replace('bad --ignore path', 'bad --pair path'));
    throw error;
  }
}

/** The first string/number/boolean the path reaches (wildcards in document order); null if none. */
export function scalarAt(value: JsonValue, path: JsonPath): string | number | boolean | null {
  const stack: Array<readonly [JsonValue, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, at] = stack.pop()!;
    if (at === path.steps.length) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    const step = path.steps[at]!;
    const next: JsonValue[] = [];
    if (Array.isArray(v)) {
      const list = v as readonly JsonValue[];
      if (step.kind === 'index' && step.index < list.length) next.push(list[step.index]!);
      else if (step.kind === 'wildcard') next.push(...list);
    } else {
      const rec = v as { readonly [k: string]: JsonValue };
      if (step.kind === 'key' && Object.hasOwn(rec, step.name)) next.push(rec[step.name]!);
      else if (step.kind === 'wildcard') next.push(...Object.values(rec));
    }
    for (let i = next.length - 1; i >= 0; i--) stack.push([next[i]!, at + 1]);
  }
  return null;
}
