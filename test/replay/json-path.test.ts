import { describe, expect, it } from 'vitest';
import { IGNORED, parseJsonPath, withoutPath, type JsonValue } from '../../src/replay/json-path.js';
import { UsageError } from '../../src/errors.js';

describe('parseJsonPath', () => {
  it('parses the documented forms', () => {
    expect(parseJsonPath('$.ts').steps).toEqual([{ kind: 'key', name: 'ts' }]);
    expect(parseJsonPath('$.data[*].id').steps).toEqual([
      { kind: 'key', name: 'data' },
      { kind: 'wildcard' },
      { kind: 'key', name: 'id' },
    ]);
    expect(parseJsonPath('$.a.b[0]').steps).toEqual([
      { kind: 'key', name: 'a' },
      { kind: 'key', name: 'b' },
      { kind: 'index', index: 0 },
    ]);
    expect(parseJsonPath("$['odd key'].x").steps).toEqual([
      { kind: 'key', name: 'odd key' },
      { kind: 'key', name: 'x' },
    ]);
    expect(parseJsonPath('$.*').steps).toEqual([{ kind: 'wildcard' }]);
  });

  it.each(['ts', '$', '$..a', '$.a[', '$.a[x]', '$.a b', '$.[0]', '$.a[?(@.x)]'])('rejects %j with a UsageError', (p) => {
    expect(() => parseJsonPath(p)).toThrow(UsageError);
    try {
      parseJsonPath(p);
    } catch (e) {
      expect((e as Error).message).toMatch(/^bad --ignore path/);
      expect((e as Error).message).not.toContain('\n');
    }
  });
});

describe('withoutPath', () => {
  const doc: JsonValue = { ts: 1, data: [{ id: 'a', v: 1 }, { id: 'b', v: 2 }], a: { b: [5, 6] } };

  it('removes an object field', () => {
    expect(withoutPath(doc, parseJsonPath('$.ts'))).toEqual({ data: [{ id: 'a', v: 1 }, { id: 'b', v: 2 }], a: { b: [5, 6] } });
  });

  it('removes a field in every array element', () => {
    expect(withoutPath(doc, parseJsonPath('$.data[*].id'))).toEqual({ ts: 1, data: [{ v: 1 }, { v: 2 }], a: { b: [5, 6] } });
  });

  it('masks one array element and keeps the positions', () => {
    expect(withoutPath(doc, parseJsonPath('$.a.b[0]'))).toEqual({ ts: 1, data: doc.data, a: { b: [IGNORED, 6] } });
  });

  it('leaves values the path does not reach alone', () => {
    expect(withoutPath(doc, parseJsonPath('$.nope.deeper'))).toEqual(doc);
    expect(withoutPath([1, 2], parseJsonPath('$.x'))).toEqual([1, 2]);
    expect(withoutPath('text', parseJsonPath('$.x'))).toBe('text');
  });
});
