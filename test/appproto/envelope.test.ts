import { describe, expect, it } from 'vitest';
import { jsonEnvelope } from '../../src/appproto/envelope.js';
import { compareAnswers, formatDifferences, type AnswerMessage } from '../../src/replay/compare.js';
import { parseJsonPath } from '../../src/replay/json-path.js';

const text = (s: string): AnswerMessage => ({ opcode: 1, data: Buffer.from(s), length: Buffer.byteLength(s) });
const one = (s: string) => ({ messages: [text(s)], closeCode: 1000 });

describe('replay --check --ignore reaches into app-protocol payloads', () => {
  it('splits socket.io packets and STOMP frames into envelope and JSON', () => {
    expect(jsonEnvelope('42/chat,7["event",{"ts":1}]')).toEqual({ head: '42/chat,7', json: ['event', { ts: 1 }] });
    expect(jsonEnvelope('451-["up",{"_placeholder":true,"num":0}]')).toEqual({ head: '451-', json: ['up', { _placeholder: true, num: 0 }] });
    expect(jsonEnvelope('MESSAGE\ndestination:/a\ncontent-length:8\n\n{"ts":1}\0')).toEqual({ head: 'MESSAGE\ndestination:/a\n\n', json: { ts: 1 } });
    expect(jsonEnvelope('{"a":1}')).toEqual({ head: '', json: { a: 1 } });
    expect(jsonEnvelope('hello')).toBeUndefined();
    expect(jsonEnvelope('42["unterminated"')).toBeUndefined();
  });

  it("socket.io 42[\"event\",{…}]: an ignored path inside the event's argument", () => {
    const ts = { paths: [parseJsonPath('$[1].ts')], patterns: [] };
    expect(compareAnswers(one('42["tick",{"ts":1,"n":5}]'), one('42["tick",{"n":5,"ts":2}]'), ts)).toEqual([]);
    expect(compareAnswers(one('42["tick",{"ts":1,"n":5}]'), one('42["tick",{"ts":2,"n":6}]'), ts)).toHaveLength(1);
    // The envelope counts: another namespace or ack id is a difference.
    expect(compareAnswers(one('42["tick",{"ts":1}]'), one('42/x,["tick",{"ts":2}]'), ts)).toHaveLength(1);
    expect(compareAnswers(one('431[{"ts":1}]'), one('432[{"ts":2}]'), { paths: [parseJsonPath('$[0].ts')], patterns: [] })).toHaveLength(1);
    const d = compareAnswers(one('42["tick",{"ts":1,"n":5}]'), one('42["tick",{"ts":2,"n":6}]'), ts);
    expect(formatDifferences(1, d, ts)).toContain('"42" [');
  });

  it('a STOMP body, whatever its content-length', () => {
    const a = 'MESSAGE\ndestination:/a\ncontent-length:8\n\n{"ts":1}\0';
    const b = 'MESSAGE\ndestination:/a\ncontent-length:10\n\n{"ts":100}\0';
    expect(compareAnswers(one(a), one(b), { paths: [parseJsonPath('$.ts')], patterns: [] })).toEqual([]);
    expect(compareAnswers(one(a), one(b.replace('/a', '/b')), { paths: [parseJsonPath('$.ts')], patterns: [] })).toHaveLength(1);
  });
});
