import { describe, expect, it } from 'vitest';
import { compareAnswers, formatDifferences, type AnswerMessage, type IgnoreRules } from '../../src/replay/compare.js';
import { parseIgnoreRegex } from '../../src/replay/ignore-regex.js';
import { parseJsonPath } from '../../src/replay/json-path.js';

const text = (s: string): AnswerMessage => ({ opcode: 1, data: Buffer.from(s), length: Buffer.byteLength(s) });
const paths = (list: readonly string[]): IgnoreRules => ({ paths: list.map(parseJsonPath), patterns: [] });
const patterns = (list: readonly string[]): IgnoreRules => ({ paths: [], patterns: list.map(parseIgnoreRegex) });
const bin = (hex: string): AnswerMessage => ({ opcode: 2, data: Buffer.from(hex, 'hex'), length: hex.length / 2 });

describe('compareAnswers', () => {
  it('finds nothing when the answers are the same', () => {
    const a = { messages: [text('hi'), bin('0001ff')], closeCode: 1000 };
    expect(compareAnswers(a, { messages: [text('hi'), bin('0001ff')], closeCode: 1000 })).toEqual([]);
  });

  it('names the differing message, type, missing and extra ones, and the close code', () => {
    const captured = { messages: [text('a'), text('b'), bin('00')], closeCode: 1000 };
    const now = { messages: [text('a'), text('B'), text('00')], closeCode: 1006 };
    const d = compareAnswers(captured, now);
    expect(d.map((x) => (x.kind === 'message' ? `${x.index}:${x.why}` : 'close'))).toEqual(['2:content', '3:opcode', 'close']);
    expect(compareAnswers({ messages: [text('a')], closeCode: 1000 }, { messages: [], closeCode: 1000 })[0]).toMatchObject({
      why: 'missing',
      index: 1,
    });
    expect(compareAnswers({ messages: [], closeCode: 1000 }, { messages: [text('x')], closeCode: 1000 })[0]).toMatchObject({
      why: 'extra',
      index: 1,
    });
  });

  it('ignores JSON paths, and key order', () => {
    const captured = { messages: [text('{"ts":1,"data":[{"id":7,"v":"x"}],"k":1}')], closeCode: 1000 };
    const now = { messages: [text('{"k":1,"data":[{"v":"x","id":9}],"ts":2}')], closeCode: 1000 };
    expect(compareAnswers(captured, now)).toHaveLength(1);
    expect(compareAnswers(captured, now, paths(['$.ts']))).toHaveLength(1);
    expect(compareAnswers(captured, now, paths(['$.ts', '$.data[*].id']))).toEqual([]);
    const changed = { messages: [text('{"k":2,"data":[{"v":"x","id":9}],"ts":2}')], closeCode: 1000 };
    expect(compareAnswers(captured, changed, paths(['$.ts', '$.data[*].id']))).toHaveLength(1);
  });

  it('--ignore-regex masks matches in text messages that are not JSON (socket.io framing)', () => {
    const captured = { messages: [text('0{"sid":"AAAA","pingInterval":25000}'), text('42["joined",{"id":"x1","room":"a"}]')], closeCode: 1000 };
    const now = { messages: [text('0{"sid":"BBBBBB","pingInterval":25000}'), text('42["joined",{"id":"y22","room":"a"}]')], closeCode: 1000 };
    expect(compareAnswers(captured, now).map((d) => (d.kind === 'message' ? d.index : 0))).toEqual([1, 2]);
    // JSON paths cannot reach into socket.io's framing: nothing changes.
    expect(compareAnswers(captured, now, paths(['$.sid']))).toHaveLength(2);
    expect(compareAnswers(captured, now, patterns(['"sid":"[^"]*"']))).toHaveLength(1);
    expect(compareAnswers(captured, now, patterns(['"sid":"[^"]*"', '"id":"[^"]*"']))).toEqual([]);
    // What is not masked still counts, and binary messages are never masked.
    const changed = { messages: [now.messages[0]!, text('42["joined",{"id":"y22","room":"b"}]')], closeCode: 1000 };
    expect(compareAnswers(captured, changed, patterns(['"sid":"[^"]*"', '"id":"[^"]*"']))).toHaveLength(1);
    expect(compareAnswers({ messages: [bin('0102')], closeCode: 1000 }, { messages: [bin('0103')], closeCode: 1000 }, patterns(['.']))).toHaveLength(1);
    // The diff shows what was compared: the masked text.
    const out = formatDifferences(1, compareAnswers(captured, changed, patterns(['"id":"[^"]*"'])), patterns(['"id":"[^"]*"']));
    expect(out).toContain('"42[\\"joined\\",{<ignored>,\\"room\\":\\"b\\"}]"');
  });

  it('--ignore-regex and --ignore together: masked first, then JSON paths', () => {
    const captured = { messages: [text('{"token":"abc-1","ts":5,"k":1}')], closeCode: 1000 };
    const now = { messages: [text('{"token":"abc-22","ts":6,"k":1}')], closeCode: 1000 };
    expect(compareAnswers(captured, now, { paths: [parseJsonPath('$.ts')], patterns: [parseIgnoreRegex('abc-\\d+')] })).toEqual([]);
  });

  it('a bad --ignore-regex is a usage error naming it', () => {
    expect(() => parseIgnoreRegex('(')).toThrow(/^bad --ignore-regex '\(': /);
    expect(() => parseIgnoreRegex('')).toThrow(/bad --ignore-regex ''/);
  });

  it('compares a truncated capture by its prefix and true length', () => {
    const captured = { messages: [{ opcode: 1 as const, data: Buffer.from('abc'), length: 6 }], closeCode: 1000 };
    expect(compareAnswers(captured, { messages: [text('abcdef')], closeCode: 1000 })).toEqual([]);
    expect(compareAnswers(captured, { messages: [text('abXdef')], closeCode: 1000 })).toHaveLength(1);
    expect(compareAnswers(captured, { messages: [text('abcdefg')], closeCode: 1000 })).toHaveLength(1);
  });
});

describe('formatDifferences', () => {
  it('shows which message, captured vs now, JSON as JSON', () => {
    const d = compareAnswers(
      { messages: [text('ok'), text('{"n":1}')], closeCode: 1000 },
      { messages: [text('ok'), text('{"n":2}')], closeCode: 1001 },
    );
    const out = formatDifferences(3, d);
    expect(out).toContain('conn 3: server message #2 differs');
    expect(out).toContain('captured: {\n              "n": 1\n            }');
    expect(out).toContain('now:      {\n              "n": 2\n            }');
    expect(out).toContain('close code differs: captured 1000 (Normal Closure), now 1001 (Going Away)');
  });

  it('shows binary as hex and plain text quoted', () => {
    const out = formatDifferences(1, compareAnswers({ messages: [bin('cafe')], closeCode: 1000 }, { messages: [text('hi there')], closeCode: 1000 }));
    expect(out).toContain('binary 2 bytes: ca fe');
    expect(out).toContain('"hi there"');
  });
});
