/** Pure parts of the upstream dial: path prefix rule, header rewriting, failure stages. */
import { describe, expect, it } from 'vitest';
import { describeUpstream, failureStage, flatHeaders, forwardedHeaders, upstreamPath, webSocketUrl } from '../../src/proxy/upstream.js';

describe('upstream', () => {
  it('keeps the request target byte for byte after the URL path prefix, refusing non-origin-form targets', () => {
    const plain = describeUpstream(new URL('ws://h:9001'));
    const prefixed = describeUpstream(new URL('wss://h/api/'));
    expect(upstreamPath(plain, '/chat?room=1')).toBe('/chat?room=1');
    expect(upstreamPath(plain, '//double//slash?a=%zz')).toBe('//double//slash?a=%zz');
    expect(upstreamPath(prefixed, '/chat')).toBe('/api/chat');
    expect(upstreamPath(plain, 'http://other.example/')).toBeNull();
    expect(upstreamPath(plain, 'other.example:443')).toBeNull();
    expect(upstreamPath(plain, '*')).toBeNull();
    expect(webSocketUrl(prefixed, '/api/chat')).toBe('wss://h/api/chat');
  });

  it('maps ws/wss to the http/https target http-proxy wants, with SNI only for host names', () => {
    expect(describeUpstream(new URL('ws://127.0.0.1:9001')).target).toEqual({ protocol: 'http:', hostname: '127.0.0.1', host: '127.0.0.1', port: 9001 });
    const tls = describeUpstream(new URL('wss://example.test'));
    expect(tls.target).toEqual({ protocol: 'https:', hostname: 'example.test', host: 'example.test', port: 443 });
    expect(tls.servername).toBe('example.test');
    expect(describeUpstream(new URL('https://[::1]:8443')).target.hostname).toBe('::1');
    expect(describeUpstream(new URL('wss://[::1]:8443')).servername).toBeNull();
  });

  it('keeps the client order, case and duplicates; rewrites Host in place; -H replaces at the first same-named header', () => {
    const request = [['X-Dup', '1'], ['host', 'proxy:8080'], ['Origin', 'a'], ['User-Agent', 'u'], ['X-Dup', '2'], ['origin', 'a2']] as const;
    expect(forwardedHeaders(request, { hostHeader: 'up:9001', extra: [['ORIGIN', 'b']] })).toEqual([
      ['X-Dup', '1'],
      ['host', 'up:9001'],
      ['ORIGIN', 'b'],
      ['User-Agent', 'u'],
      ['X-Dup', '2'],
    ]);
    expect(forwardedHeaders(request, { hostHeader: null, extra: [] })).toEqual(request);
    // Repeated -H of one name all go to its place; unknown names are appended in -H order.
    expect(forwardedHeaders(request, { hostHeader: null, extra: [['x-new', '1'], ['X-Dup', 'a'], ['X-Dup', 'b']] })).toEqual([
      ['X-Dup', 'a'],
      ['X-Dup', 'b'],
      ['host', 'proxy:8080'],
      ['Origin', 'a'],
      ['User-Agent', 'u'],
      ['origin', 'a2'],
      ['x-new', '1'],
    ]);
    // An explicit -H Host wins over the rewrite.
    expect(forwardedHeaders(request, { hostHeader: 'up:9001', extra: [['Host', 'virtual']] }).filter(([n]) => n.toLowerCase() === 'host')).toEqual([['Host', 'virtual']]);
    // No Host from the client (HTTP/1.0): the rewrite adds one first.
    expect(forwardedHeaders([['A', '1']], { hostHeader: 'up:9001', extra: [] })).toEqual([['Host', 'up:9001'], ['A', '1']]);
    expect(flatHeaders([['A', '1'], ['a', '2']])).toEqual(['A', '1', 'a', '2']);
  });

  it('names the failing stage by how far the dial got', () => {
    const tls = describeUpstream(new URL('wss://h'));
    const plain = describeUpstream(new URL('ws://h'));
    expect(failureStage(tls, { connected: false, secured: false })).toBe('upstream-connect');
    expect(failureStage(tls, { connected: true, secured: false })).toBe('upstream-tls');
    expect(failureStage(tls, { connected: true, secured: true })).toBe('handshake');
    expect(failureStage(plain, { connected: true, secured: false })).toBe('handshake');
  });
});
