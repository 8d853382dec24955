import { describe, expect, it } from 'vitest';
import { compareAnswers, formatDifferences, type AnswerMessage } from '../../src/replay/compare.js';
import { parseJsonPath } from '../../src/replay/json-path.js';

const text = (s: string): AnswerMessage => ({ opcode: 1, data: Buffer.from(s), length: Buffer.byteLength(s) });
const bin = (hex: string): AnswerMessage => ({ opcode: 2, data: Buffer.from(hex, 'hex'), length: hex.length / 2 });

describe('compareAnswers', () => {
  it('finds nothing when the answers are the same', () => {
    const a = { messages: [text('hi'), bin('0001ff')], closeCode: 1000 };
    expect(compareAnswers(a, { messages: [text('hi'), bin('0001ff')], closeCode: 1000 }, [])).toEqual([]);
  });

  it('names the differing message, type, missing and extra ones, and the close code', () => {
    const captured = { messages: [text('a'), text('b'), bin('00')], closeCode: 1000 };
    const now = { messages: [text('a'), text('B'), text('00')], closeCode: 1006 };
    const d = compareAnswers(captured, now, []);
    expect(d.map((x) => (x.kind === 'message' ? `${x.index}:${x.why}` : 'close'))).toEqual(['2:content', '3:opcode', 'close']);
    expect(compareAnswers({ messages: [text('a')], closeCode: 1000 }, { messages: [], closeCode: 1000 }, [])[0]).toMatchObject({
      why: 'missing',
      index: 1,
    });
    expect(compareAnswers({ messages: [], closeCode: 1000 }, { messages: [text('x')], closeCode: 1000 }, [])[0]).toMatchObject({
      why: 'extra',
      index: 1,
    });
  });

  it('ignores JSON paths, and key order', () => {
    const captured = { messages: [text('{"ts":1,"data":[{"id":7,"v":"x"}],"k":1}')], closeCode: 1000 };
    const now = { messages: [text('{"k":1,"data":[{"v":"x","id":9}],"ts":2}')], closeCode: 1000 };
    expect(compareAnswers(captured, now, [])).toHaveLength(1);
    expect(compareAnswers(captured, now, [parseJsonPath('$.ts')])).toHaveLength(1);
    expect(compareAnswers(captured, now, [parseJsonPath('$.ts'), parseJsonPath('$.data[*].id')])).toEqual([]);
    const changed = { messages: [text('{"k":2,"data":[{"v":"x","id":9}],"ts":2}')], closeCode: 1000 };
    expect(compareAnswers(captured, changed, [parseJsonPath('$.ts'), parseJsonPath('$.data[*].id')])).toHaveLength(1);
  });

  it('compares a truncated capture by its prefix and true length', () => {
    const captured = { messages: [{ opcode: 1 as const, data: Buffer.from('abc'), length: 6 }], closeCode: 1000 };
    expect(compareAnswers(captured, { messages: [text('abcdef')], closeCode: 1000 }, [])).toEqual([]);
    expect(compareAnswers(captured, { messages: [text('abXdef')], closeCode: 1000 }, [])).toHaveLength(1);
    expect(compareAnswers(captured, { messages: [text('abcdefg')], closeCode: 1000 }, [])).toHaveLength(1);
  });
});

describe('formatDifferences', () => {
  it('shows which message, captured vs now, JSON as JSON', () => {
    const d = compareAnswers(
      { messages: [text('ok'), text('{"n":1}')], closeCode: 1000 },
      { messages: [text('ok'), text('{"n":2}')], closeCode: 1001 },
      [],
    );
    const out = formatDifferences(3, d);
    expect(out).toContain('conn 3: server message #2 differs');
    expect(out).toContain('captured: {\n              "n": 1\n            }');
    expect(out).toContain('now:      {\n              "n": 2\n            }');
    expect(out).toContain('close code differs: captured 1000 (Normal Closure), now 1001 (Going Away)');
  });

  it('shows binary as hex and plain text quoted', () => {
    const out = formatDifferences(1, compareAnswers({ messages: [bin('cafe')], closeCode: 1000 }, { messages: [text('hi there')], closeCode: 1000 }, []));
    expect(out).toContain('binary 2 bytes: ca fe');
    expect(out).toContain('"hi there"');
  });
});
