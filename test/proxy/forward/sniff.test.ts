/**
 * What a CONNECT client sends first: a real ClientHello (from Node's TLS client) with and without
 * SNI, at every prefix length; records split mid-message; plain HTTP; random bytes (never throws).
 */
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { sniff } from '../../../src/proxy/forward/client-hello.js';
import { parseConnectTarget } from '../../../src/proxy/forward/connect-target.js';
import { parseHostGlob } from '../../../src/proxy/forward/host-glob.js';
import { deferred, withTimeout } from '../../helpers/deferred.js';

async function clientHello(servername: string | null): Promise<Buffer> {
  const caught = deferred<Buffer>();
  const server = net.createServer((s) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      const all = Buffer.concat(chunks);
      if (all.length >= 5 && all.length >= 5 + all.readUInt16BE(3)) {
        caught.resolve(all);
        s.destroy();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const c = tls.connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', ...(servername ? { servername } : {}), rejectUnauthorized: false });
  c.on('error', () => {});
  const hello = await withTimeout(caught.promise, 'ClientHello');
  c.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  return hello;
}

describe('sniff', () => {
  it('reads the SNI of a real ClientHello; every shorter prefix asks for more', async () => {
    const hello = await clientHello('App.Example.test');
    expect(sniff(hello)).toEqual({ kind: 'tls', sni: 'App.Example.test' });
    for (let n = 0; n < hello.length; n++) expect(sniff(hello.subarray(0, n)).kind, `prefix ${n}`).toBe(n === 0 ? 'need-more' : 'need-more');
  });

  it('a ClientHello without SNI (an IP literal target) is TLS with no name', async () => {
    expect(sniff(await clientHello(null))).toEqual({ kind: 'tls', sni: null });
  });

  it('a ClientHello split over two records (RFC 8446 §5.1 fragmentation) is joined', async () => {
    const hello = await clientHello('split.example.test');
    const body = hello.subarray(5);
    const at = 40;
    const record = (part: Buffer): Buffer => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, part.length >> 8, part.length & 0xff]), part]);
    const two = Buffer.concat([record(body.subarray(0, at)), record(body.subarray(at))]);
    expect(sniff(two)).toEqual({ kind: 'tls', sni: 'split.example.test' });
    for (let n = 1; n < two.length; n++) expect(sniff(two.subarray(0, n)).kind).toBe('need-more');
  });

  it('plain HTTP and anything else', () => {
    expect(sniff(Buffer.from('GET / HTTP/1.1\r\n'))).toEqual({ kind: 'http' });
    expect(sniff(Buffer.from('G'))).toEqual({ kind: 'need-more' });
    expect(sniff(Buffer.from('GET'))).toEqual({ kind: 'need-more' });
    expect(sniff(Buffer.from('GET '))).toEqual({ kind: 'http' });
    expect(sniff(Buffer.from('SSH-2.0-OpenSSH'))).toEqual({ kind: 'other' });
    expect(sniff(Buffer.from('A'.repeat(30)))).toEqual({ kind: 'other' });
    expect(sniff(Buffer.from([0x00, 0x01]))).toEqual({ kind: 'other' });
    expect(sniff(Buffer.from('get / HTTP/1.1'))).toEqual({ kind: 'other' });
    expect(sniff(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0, 0, 0]))).toEqual({ kind: 'tls', sni: null });
  });

  it('random bytes after a handshake record header never throw and always decide within the limit', () => {
    let seed = 42;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let i = 0; i < 2000; i++) {
      const len = rnd() * 4;
      const bytes = Buffer.from(Array.from({ length: len }, rnd));
      if (i % 2 === 0 && len > 0) bytes[0] = 0x16;
      expect(() => sniff(bytes)).not.toThrow();
    }
    const huge = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0xff, 0xff, 0xff]), Buffer.alloc(70_000)]);
    expect(sniff(huge)).toEqual({ kind: 'tls', sni: null });
  });
});

describe('CONNECT targets', () => {
  it('authority-form host:port (RFC 9112 §3.2.3)', () => {
    expect(parseConnectTarget('Example.TEST:443')).toEqual({ host: 'example.test', port: 443, authority: 'example.test:443' });
    expect(parseConnectTarget('127.0.0.1:8443')).toEqual({ host: '127.0.0.1', port: 8443, authority: '127.0.0.1:8443' });
    expect(parseConnectTarget('[::1]:443')).toEqual({ host: '::1', port: 443, authority: '[::1]:443' });
    expect(parseConnectTarget('_srv.example.test:443')?.host).toBe('_srv.example.test');
    for (const bad of ['example.test', 'example.test:', ':443', 'a b:443', 'x:0', 'x:65536', '[::1]', '[nope]:443', 'u@x:443', '-x.test:443', 'x..test:443', 'http://x:443', 'x:443/']) {
      expect(parseConnectTarget(bad), bad).toBeNull();
    }
  });
});

describe('host globs', () => {
  it('* within one label, **. any depth, :port one port, case-insensitive', () => {
    const g = (t: string) => parseHostGlob(t, '--ignore-hosts');
    expect(g('*.example.test').matches('a.example.test', 443)).toBe(true);
    expect(g('*.example.test').matches('a.b.example.test', 443)).toBe(false);
    expect(g('*.example.test').matches('example.test', 443)).toBe(false);
    expect(g('**.example.test').matches('a.b.example.test', 443)).toBe(true);
    expect(g('**.example.test').matches('A.Example.Test.', 443)).toBe(true);
    expect(g('pinned.test:8443').matches('pinned.test', 8443)).toBe(true);
    expect(g('pinned.test:8443').matches('pinned.test', 443)).toBe(false);
    expect(g('[::1]:443').matches('::1', 443)).toBe(true);
    expect(g('a.test').matches('a-test', 443)).toBe(false);
    expect(() => g('a b')).toThrow(/bad --ignore-hosts/);
    expect(() => g('x:99999')).toThrow(/bad --ignore-hosts/);
  });
});
