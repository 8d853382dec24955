import { describe, expect, it } from 'vitest';
import { messageText, tcpEndSummary } from '../../src/session/event-data.js';

describe('tcpEndSummary (why a connection ended, from end.tcp)', () => {
  it('names a reset, a FIN without a close frame, a cut, and says nothing when tcp is unknown', () => {
    expect(tcpEndSummary({ tcp: { client: 'cut', server: 'reset' }, initiator: null })).toBe('server reset');
    expect(tcpEndSummary({ tcp: { client: 'fin', server: 'cut' }, initiator: null })).toBe('client FIN without close frame');
    expect(tcpEndSummary({ tcp: { client: 'fin', server: 'fin' }, initiator: 'client' })).toBe('both FIN');
    expect(tcpEndSummary({ tcp: { client: 'cut', server: 'cut' }, initiator: null })).toBe('cut by frametap');
    expect(tcpEndSummary({ tcp: { client: 'cut', server: 'cut' }, initiator: null, shutdown: true })).toBe('frametap shut down');
    expect(tcpEndSummary({ tcp: { client: null, server: null }, initiator: null })).toBeNull();
    expect(tcpEndSummary({ initiator: null })).toBeNull();
  });
});

describe('messageText', () => {
  it('is the text of a valid text message, cut at a character boundary when truncated; null otherwise', () => {
    const data = Buffer.from('aé', 'utf8');
    expect(messageText({ opcode: 1, data, truncated: false })).toBe('aé');
    expect(messageText({ opcode: 1, data: data.subarray(0, 2), truncated: true })).toBe('a');
    expect(messageText({ opcode: 1, data: Buffer.from([0xff]), invalidUtf8: true, truncated: false })).toBeNull();
    expect(messageText({ opcode: 2, data, truncated: false })).toBeNull();
  });
});
