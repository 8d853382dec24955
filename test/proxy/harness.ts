/**
 * Starts frametap's proxy in-process in front of an upstream, with a bus that records every event,
 * and tears everything down after each test.
 */
import { EventBus } from '../../src/session/event-bus.js';
import type { SessionEventType } from '../../src/session/events.js';
import { cap, type CapturedEvent, type CapturedOfType } from '../helpers/captured.js';
import { startProxy, type ProxyOptions, type RunningProxy } from '../../src/proxy/server.js';
import { waitFor } from '../helpers/deferred.js';

export interface Harness {
  readonly proxy: RunningProxy;
  readonly bus: EventBus;
  /** Every event as its capture line object (payloads base64 / text), in publish order. */
  readonly events: CapturedEvent[];
  /** ws:// URL of the proxy. */
  readonly wsUrl: string;
  /** Resolves with the first recorded event matching, waiting for it if needed. */
  event<K extends CapturedEvent['type']>(type: K, match?: (e: CapturedOfType<K>) => boolean, ms?: number): Promise<CapturedOfType<K>>;
  /** Events of one connection, in order. */
  of(conn: number): CapturedEvent[];
  /** Events of one connection, `t`-stripped, for exact comparisons. */
  plain(conn: number, ...types: SessionEventType[]): Array<Record<string, unknown>>;
}

export async function startHarness(upstream: string, options: Partial<Omit<ProxyOptions, 'bus' | 'upstream'>> = {}): Promise<Harness> {
  const bus = new EventBus((name, error) => {
    throw new Error(`sink ${name} failed: ${String(error)}`);
  });
  const events: CapturedEvent[] = [];
  const listeners = new Set<() => void>();
  bus.subscribe('test', (e) => {
    events.push(cap(e));
    for (const l of listeners) l();
  });
  const proxy = await startProxy({
    upstream: new URL(upstream),
    listen: { host: '127.0.0.1', port: 0 },
    bus,
    maxPayload: 1024 * 1024,
    insecure: false,
    keepHost: false,
    headers: [],
    redact: [],
    upstreamTimeoutMs: 5000,
    ...options,
  });
  return {
    proxy,
    bus,
    events,
    wsUrl: `ws://127.0.0.1:${proxy.port}`,
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
    of(conn) {
      return events.filter((e) => 'conn' in e && e.conn === conn);
    },
    plain(conn, ...types) {
      return events
        .filter((e) => 'conn' in e && e.conn === conn && (types.length === 0 || types.includes(e.type)))
        .map((e) => {
          const { t: _t, ...rest } = e as CapturedEvent & { t: number };
          return rest as Record<string, unknown>;
        });
    },
  };
}
