import { describe, expect, it } from 'vitest';
import { analyzeHandshake, computeAccept, headerValues, parseExtensionHeader } from '../../src/protocol/handshake.js';
import type { RawHeaders } from '../../src/session/events.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

function request(extra: RawHeaders = []): RawHeaders {
  return [['Host', 'example.com'], ['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Key', KEY], ['Sec-WebSocket-Version', '13'], ...extra];
}

function response(extra: RawHeaders = [], accept: string | null = ACCEPT): { status: number; headers: RawHeaders } {
  const headers: Array<readonly [string, string]> = [['Upgrade', 'websocket'], ['Connection', 'Upgrade']];
  if (accept !== null) headers.push(['Sec-WebSocket-Accept', accept]);
  return { status: 101, headers: [...headers, ...extra] };
}

describe('computeAccept', () => {
  it('matches the RFC 6455 §1.3 example', () => {
    expect(computeAccept(KEY)).toBe(ACCEPT);
  });
});

describe('headerValues', () => {
  it('is case-insensitive and keeps wire order', () => {
    const headers: RawHeaders = [['X-A', '1'], ['x-b', '2'], ['x-a', '3']];
    expect(headerValues(headers, 'X-a')).toEqual(['1', '3']);
    expect(headerValues(headers, 'missing')).toEqual([]);
  });
});

describe('parseExtensionHeader', () => {
  it('parses names, bare, token and quoted parameters', () => {
    expect(parseExtensionHeader('permessage-deflate; client_max_window_bits; server_max_window_bits="10" ,x-foo;a=1;b="x,y;z"')).toEqual([
      { name: 'permessage-deflate', params: { client_max_window_bits: true, server_max_window_bits: '10' } },
      { name: 'x-foo', params: { a: '1', b: 'x,y;z' } },
    ]);
    expect(parseExtensionHeader('')).toEqual([]);
    expect(parseExtensionHeader(' , permessage-deflate')).toEqual([{ name: 'permessage-deflate', params: {} }]);
  });
});

describe('analyzeHandshake', () => {
  it('checks Sec-WebSocket-Accept: ok, mismatch, missing', () => {
    expect(analyzeHandshake(request(), response()).accept).toBe('ok');
    expect(analyzeHandshake(request(), response([], 'AAAA')).accept).toBe('mismatch');
    expect(analyzeHandshake(request(), response([], null)).accept).toBe('missing');
  });

  it('reports the subprotocol and extensions, and negotiates permessage-deflate', () => {
    const analysis = analyzeHandshake(
      request([['Sec-WebSocket-Protocol', 'chat, superchat'], ['Sec-WebSocket-Extensions', 'permessage-deflate; client_max_window_bits']]),
      response([['Sec-WebSocket-Protocol', 'chat'], ['sec-websocket-extensions', 'permessage-deflate; server_no_context_takeover; client_max_window_bits=9']]),
    );
    expect(analysis).toEqual({
      accept: 'ok',
      protocol: 'chat',
      extensions: [{ name: 'permessage-deflate', params: { server_no_context_takeover: true, client_max_window_bits: '9' } }],
      deflate: { client: { noContextTakeover: false, maxWindowBits: 9 }, server: { noContextTakeover: true, maxWindowBits: 15 } },
      violations: [],
    });
  });

  it('subprotocol-not-offered', () => {
    const analysis = analyzeHandshake(request([['Sec-WebSocket-Protocol', 'chat']]), response([['Sec-WebSocket-Protocol', 'mqtt']]));
    expect(analysis.violations).toEqual([
      { rule: 'subprotocol-not-offered', code: 1002, from: 'server', detail: 'server chose subprotocol "mqtt", not among the offered "chat"' },
    ]);
    expect(analyzeHandshake(request(), response([['Sec-WebSocket-Protocol', 'x']])).violations.map((v) => v.rule)).toEqual(['subprotocol-not-offered']);
  });

  it('extension-not-offered', () => {
    const analysis = analyzeHandshake(request(), response([['Sec-WebSocket-Extensions', 'permessage-deflate']]));
    expect(analysis.violations.map((v) => [v.rule, v.code, v.from])).toEqual([['extension-not-offered', 1002, 'server']]);
    // The peers will still compress: the inspector must inflate what they send.
    expect(analysis.deflate).not.toBeNull();
  });

  it('invalid-extension-params', () => {
    const analysis = analyzeHandshake(
      request([['Sec-WebSocket-Extensions', 'permessage-deflate']]),
      response([['Sec-WebSocket-Extensions', 'permessage-deflate; client_max_window_bits=10']]),
    );
    expect(analysis.violations).toEqual([
      { rule: 'invalid-extension-params', code: 1002, from: 'server', detail: 'permessage-deflate: client_max_window_bits in the answer but not in the offer' },
    ]);
  });

  it('a refused upgrade negotiates nothing and breaks no rule', () => {
    const analysis = analyzeHandshake(request([['Sec-WebSocket-Extensions', 'permessage-deflate']]), {
      status: 403,
      headers: [['Sec-WebSocket-Extensions', 'permessage-deflate; foo']],
    });
    expect(analysis).toEqual({ accept: 'missing', protocol: null, extensions: [], deflate: null, violations: [] });
  });
});
