/**
 * Forward mode in-process for tests: frametap's CA in a temporary FRAMETAP_HOME, the proxy on
 * 127.0.0.1:0 with a bus that records every event, and helpers to open CONNECT tunnels and TLS
 * through them (trusting frametap's CA) the way a browser does.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { loadOrCreateCa, type CertificateAuthority } from '../../src/ca/ca-store.js';
import { LeafIssuer } from '../../src/ca/leaf-issuer.js';
import { startForwardProxy, type ForwardProxyOptions } from '../../src/proxy/forward/forward-server.js';
import { upstreamTrust } from '../../src/proxy/forward/upstream-trust.js';
import type { RunningProxy } from '../../src/proxy/server.js';
import { EventBus } from '../../src/session/event-bus.js';
import type { EventOfType, SessionEvent, SessionEventType } from '../../src/session/events.js';
import { deferred, waitFor, withTimeout } from '../helpers/deferred.js';

export interface ForwardHarness {
  readonly proxy: RunningProxy;
  readonly ca: CertificateAuthority;
  readonly issuer: LeafIssuer;
  readonly events: SessionEvent[];
  readonly bus: EventBus;
  readonly home: string;
  event<K extends SessionEventType>(type: K, match?: (e: EventOfType<K>) => boolean, ms?: number): Promise<EventOfType<K>>;
  /** A TCP connection to the proxy that sent `CONNECT authority` and read the 200; `rest` is what followed the head. */
  connect(authority: string): Promise<net.Socket>;
  /** TLS through a CONNECT tunnel, trusting frametap's CA. */
  tlsThrough(authority: string, servername?: string | null): Promise<tls.TLSSocket>;
  stop(): Promise<void>;
}

export interface ForwardHarnessOptions extends Partial<Omit<ForwardProxyOptions, 'bus' | 'issuer' | 'upstreamTrust'>> {
  readonly upstreamCa?: readonly string[];
}

export async function startForwardHarness(options: ForwardHarnessOptions = {}): Promise<ForwardHarness> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-home-'));
  const ca = loadOrCreateCa(home);
  const issuer = new LeafIssuer(ca);
  const bus = new EventBus((name, error) => {
    throw new Error(`sink ${name} failed: ${String(error)}`);
  });
  const events: SessionEvent[] = [];
  const listeners = new Set<() => void>();
  bus.subscribe('test', (e) => {
    events.push(e);
    for (const l of listeners) l();
  });
  const { upstreamCa, ...rest } = options;
  const proxy = await startForwardProxy({
    listen: { host: '127.0.0.1', port: 0 },
    bus,
    maxPayload: 1024 * 1024,
    insecure: false,
    headers: [],
    redact: [],
    ignoreHosts: [],
    issuer,
    upstreamTrust: upstreamTrust(upstreamCa ?? []),
    upstreamTimeoutMs: 5000,
    ...rest,
  });
  const opened = new Set<net.Socket>();
  const wrapped = new WeakSet<net.Socket>();
  const connect = async (authority: string): Promise<net.Socket> => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    opened.add(socket);
    socket.on('error', () => {});
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
    const d = deferred<net.Socket>();
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.removeListener('data', onData);
      socket.pause();
      const status = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      if (!/^HTTP\/1\.1 200 /.test(status)) return d.reject(new Error(`CONNECT answered ${status}`));
      if (end + 4 < head.length) socket.unshift(head.subarray(end + 4));
      d.resolve(socket);
    };
    socket.on('data', onData);
    socket.once('close', () => d.reject(new Error('proxy closed the CONNECT')));
    return withTimeout(d.promise, `CONNECT ${authority}`);
  };
  return {
    proxy,
    ca,
    issuer,
    events,
    bus,
    home,
    event(type, match, ms) {
      return waitFor(
        (notify) => {
          listeners.add(notify);
          return () => listeners.delete(notify);
        },
        () => events.find((e) => e.type === type && (!match || match(e as never))) as never,
        `a ${type} event`,
        ms,
      );
    },
    connect,
    async tlsThrough(authority, servername) {
      const socket = await connect(authority);
      const host = authority.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
      const d = deferred<tls.TLSSocket>();
      const t = tls.connect({ socket, ca: ca.certPem, ALPNProtocols: ['h2', 'http/1.1'], ...(servername === null || (servername === undefined && net.isIP(host) !== 0) ? {} : { servername: servername ?? host }), checkServerIdentity: (_h, cert) => tls.checkServerIdentity(host, cert) });
      opened.add(t);
      wrapped.add(socket);
      t.once('secureConnect', () => d.resolve(t));
      t.once('error', (e) => d.reject(e));
      return withTimeout(d.promise, `TLS through CONNECT ${authority}`);
    },
    async stop() {
      // TLS sockets first: destroying a socket under a live TLS wrap crashes Node 20 (SIGSEGV).
      for (const s of opened) if (s instanceof tls.TLSSocket) s.destroy();
      for (const s of opened) if (!(s instanceof tls.TLSSocket) && !wrapped.has(s)) s.destroy();
      await proxy.stop();
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}
