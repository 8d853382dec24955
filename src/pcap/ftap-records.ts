/**
 * The records frametap writes into its local-use pcapng blocks: what the packets cannot say
 * (capture-format.md "pcapng captures"). Each is one JSON object; `open`, `handshake` and `end`
 * carry only what the bytes cannot (the rest is rebuilt from the packets), every other event that
 * has no bytes of its own (`error`, `http`, `tunnel`, `intercept`) is kept whole.
 */
import type { CaptureHeader, TcpEnds } from '../session/events.js';
import type { CapturedEvent } from '../capture/capture-object.js';
import { ipv4String } from './tcp-synth.js';

/** The synthesized endpoints of one leg. */
export interface LegAddresses {
  readonly client: string;
  readonly server: string;
}

export type FtapRecord =
  | CaptureHeader
  /** How the live run inspected: `--max-payload` (so reading keeps as much) and the `--redact` names. */
  | { readonly type: 'settings'; readonly maxPayload: number; readonly redact: readonly string[] }
  | {
      readonly type: 'open';
      readonly conn: number;
      readonly t: number;
      readonly client: string;
      readonly target: string;
      readonly legs: { readonly client: LegAddresses; readonly upstream: LegAddresses };
    }
  | { readonly type: 'handshake'; readonly conn: number; readonly t: number; readonly answered: boolean; readonly forwarded: boolean }
  | { readonly type: 'end'; readonly conn: number; readonly t: number; readonly shutdown?: true; readonly tcp?: TcpEnds }
  /** An event as its capture line holds it. */
  | { readonly type: 'event'; readonly event: CapturedEvent };

/** Synthesized addresses (capture-format.md): documentation and private ranges, server port 80, client ports ≥ 49152. */
export function legEndpoints(conn: number): {
  readonly client: { readonly client: { ip: number; port: number }; readonly server: { ip: number; port: number } };
  readonly upstream: { readonly client: { ip: number; port: number }; readonly server: { ip: number; port: number } };
} {
  const low24 = conn & 0xffffff;
  const port = 49152 + (conn % 16384);
  return {
    // 10.0.0.0/8 clients talk to 192.0.2.1 (RFC 5737 TEST-NET-1), frametap's client side;
    client: { client: { ip: ((10 << 24) | low24) >>> 0, port }, server: { ip: 0xc0000201, port: 80 } },
    // 172.16.0.0/12 is frametap dialling 198.51.100.1 (TEST-NET-2), the upstream.
    upstream: { client: { ip: (((172 << 24) | (16 << 16)) + (conn & 0xfffff)) >>> 0, port }, server: { ip: 0xc6336401, port: 80 } },
  };
}

export function legAddresses(conn: number): { readonly client: LegAddresses; readonly upstream: LegAddresses } {
  const e = legEndpoints(conn);
  const s = (x: { ip: number; port: number }): string => `${ipv4String(x.ip)}:${x.port}`;
  return {
    client: { client: s(e.client.client), server: s(e.client.server) },
    upstream: { client: s(e.upstream.client), server: s(e.upstream.server) },
  };
}
