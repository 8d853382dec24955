import { describe, expect, it } from 'vitest';
import { hostPort, listenWarning, upstreamLabel } from '../../src/cli/live.js';

describe('live runner helpers', () => {
  it('the upstream label drops the bare trailing slash and any credentials, keeps a prefix and query', () => {
    expect(upstreamLabel(new URL('ws://127.0.0.1:9001'))).toBe('ws://127.0.0.1:9001');
    expect(upstreamLabel(new URL('wss://user:secret@example.test/api?x=1'))).toBe('wss://example.test/api?x=1');
    expect(upstreamLabel(new URL('http://[::1]:80/'))).toBe('http://[::1]');
  });

  it('listen addresses in capture headers bracket IPv6', () => {
    expect(hostPort('127.0.0.1', 8080)).toBe('127.0.0.1:8080');
    expect(hostPort('::1', 8080)).toBe('[::1]:8080');
  });

  it('warns for a non-loopback listen address only', () => {
    expect(listenWarning('127.0.0.1', '127.0.0.1:8080')).toBeNull();
    expect(listenWarning('::1', '[::1]:8080')).toBeNull();
    expect(listenWarning('localhost', 'localhost:8080')).toBeNull();
    expect(listenWarning('0.0.0.0', '0.0.0.0:8080')).toMatch(/^frametap: warning: listening on 0\.0\.0\.0:8080, which is not a loopback address/);
    expect(listenWarning('192.168.1.5', '192.168.1.5:8080')).not.toBeNull();
  });
});
