import { describe, expect, it } from 'vitest';
import { deflateOptions, headersToResend, offeredProtocols } from '../../src/replay/send-steps.js';
import { startProgress } from '../../src/replay/progress.js';
import { deferred, withTimeout } from '../helpers/deferred.js';

describe('headersToResend', () => {
  it('keeps the headers that matter and drops the negotiated ones', () => {
    const { headers, redacted } = headersToResend([
      ['Host', '127.0.0.1:8080'],
      ['Connection', 'Upgrade'],
      ['Upgrade', 'websocket'],
      ['Sec-WebSocket-Key', 'abc'],
      ['Sec-WebSocket-Version', '13'],
      ['Sec-WebSocket-Extensions', 'permessage-deflate'],
      ['Sec-WebSocket-Protocol', 'chat'],
      ['Origin', 'http://app.example'],
      ['Cookie', 'a=1'],
      ['cookie', 'b=2'],
      ['Authorization', '<redacted>'],
      ['X-Trace', 't1'],
    ]);
    expect(headers).toEqual({ Origin: 'http://app.example', Cookie: 'a=1; b=2', 'X-Trace': 't1' });
    expect(redacted).toEqual(['Authorization']);
  });
});

describe('offeredProtocols', () => {
  it('splits every Sec-WebSocket-Protocol header', () => {
    expect(offeredProtocols([['Sec-WebSocket-Protocol', 'chat, superchat'], ['sec-websocket-protocol', 'v3']])).toEqual(['chat', 'superchat', 'v3']);
    expect(offeredProtocols([['Origin', 'x']])).toEqual([]);
  });
});

describe('deflateOptions', () => {
  it('offers permessage-deflate only when the capture negotiated it, with its context takeover flags', () => {
    expect(deflateOptions([])).toBe(false);
    expect(deflateOptions([{ name: 'permessage-deflate', params: {} }])).toEqual({ threshold: 0 });
    expect(deflateOptions([{ name: 'permessage-deflate', params: { server_no_context_takeover: true, client_max_window_bits: '10' } }])).toEqual({
      threshold: 0,
      serverNoContextTakeover: true,
    });
  });
});

describe('startProgress', () => {
  it('reports messages sent of the total', async () => {
    const line = deferred<string>();
    const p = startProgress(40, (l) => line.resolve(l), 5);
    p.sent();
    p.sent();
    const text = await withTimeout(line.promise, 'a progress line');
    p.stop();
    expect(text).toMatch(/^frametap replay: 2\/40 messages sent, \d+\.\d s$/);
  });
});
