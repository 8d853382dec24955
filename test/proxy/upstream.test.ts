/** Pure parts of the upstream dial: path prefix rule, header rewriting, failure stages. */
import { describe, expect, it } from 'vitest';
import { describeUpstream, failureStage, forwardedHeaders, upstreamPath, webSocketUrl } from '../../src/proxy/upstream.js';

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

  it('rewrites Host, lets -H replace same-named headers and an explicit Host win', () => {
    const request = [['Host', 'proxy:8080'], ['Origin', 'a'], ['X-Two', '1'], ['x-two', '2']] as const;
    expect(forwardedHeaders(request, { hostHeader: 'up:9001', extra: [['origin', 'b']] })).toEqual([
      ['Host', 'up:9001'],
      ['X-Two', '1'],
      ['X-Two', '2'],
      ['origin', 'b'],
    ]);
    expect(forwardedHeaders(request, { hostHeader: null, extra: [] })).toEqual([['Host', 'proxy:8080'], ['Origin', 'a'], ['X-Two', '1'], ['X-Two', '2']]);
    expect(forwardedHeaders(request, { hostHeader: 'up:9001', extra: [['Host', 'virtual']] })[0]).toEqual(['Origin', 'a']);
    expect(forwardedHeaders(request, { hostHeader: 'up:9001', extra: [['Host', 'virtual']] }).filter(([n]) => n.toLowerCase() === 'host')).toEqual([['Host', 'virtual']]);
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
