/**
 * A captured connection as something to play again: each side's steps (messages with their
 * fragmentation and compression, pings, the close or the drop) with captured times, and what each
 * side answered. Built from capture events; used by `replay` (client side) and `serve` (server side).
 */
import { Opcode } from '../protocol/constants.js';
import type {
  CaptureHeader,
  ExtensionOffer,
  HandshakeRequest,
  HandshakeResponse,
  SessionEvent,
  Side,
} from '../session/events.js';
import { UsageError } from '../errors.js';
import type { AnswerMessage } from './compare.js';
import type { Timed } from './pacing.js';

export type Step = Timed &
  (
    | {
        readonly kind: 'message';
        /** 1-based among this side's messages. */
        readonly index: number;
        readonly opcode: 1 | 2;
        readonly data: Buffer;
        /** The capture kept only a prefix (`--max-payload`): `length` is the true length. */
        readonly length: number;
        readonly compressed: boolean;
        /** Payload bytes per frame when replayed: same frame count as captured. */
        readonly fragments: readonly number[];
      }
    | { readonly kind: 'ping'; readonly data: Buffer }
    | { readonly kind: 'close'; readonly code: number | null; readonly reason: string }
    /** The connection ended without any close frame (1006): drop the TCP connection. */
    | { readonly kind: 'drop' }
  );

export interface ConnScript {
  readonly conn: number;
  /** Capture time (epoch ms) the connection opened. */
  readonly startedAt: number;
  /** Full URL the capture's client reached (open.target), when known. */
  readonly target: string | null;
  readonly request: HandshakeRequest | null;
  readonly response: HandshakeResponse | null;
  readonly upgraded: boolean;
  readonly protocol: string | null;
  readonly extensions: readonly ExtensionOffer[];
  readonly client: readonly Step[];
  readonly server: readonly Step[];
  /** The connection's close code from `end`, null when the capture has no `end`. */
  readonly endCode: number | null;
  /** Messages kept only in part by the capture, per side. */
  readonly truncated: { readonly client: number; readonly server: number };
}

interface Builder {
  conn: number;
  startedAt: number;
  target: string | null;
  request: HandshakeRequest | null;
  response: HandshakeResponse | null;
  upgraded: boolean;
  protocol: string | null;
  extensions: readonly ExtensionOffer[];
  steps: { client: Step[]; server: Step[] };
  messages: { client: number; server: number };
  /** Data-frame lengths since the side's last message. */
  frames: { client: number[]; server: number[] };
  closeBy: Side | null;
  closes: { client: boolean; server: boolean };
  endCode: number | null;
  endT: number | null;
  lastT: number;
  truncated: { client: number; server: number };
}

const other = (side: Side): Side => (side === 'client' ? 'server' : 'client');

/** Scripts for every connection that has messages or a handshake, in conn order. */
export function buildScripts(events: readonly SessionEvent[]): ConnScript[] {
  const byConn = new Map<number, Builder>();
  const get = (conn: number, t: number): Builder => {
    let b = byConn.get(conn);
    if (!b) {
      b = {
        conn,
        startedAt: t,
        target: null,
        request: null,
        response: null,
        upgraded: true,
        protocol: null,
        extensions: [],
        steps: { client: [], server: [] },
        messages: { client: 0, server: 0 },
        frames: { client: [], server: [] },
        closeBy: null,
        closes: { client: false, server: false },
        endCode: null,
        endT: null,
        lastT: t,
        truncated: { client: 0, server: 0 },
      };
      byConn.set(conn, b);
    }
    if (t > b.lastT) b.lastT = t;
    return b;
  };
  // A compressed message's event can be written after later frames (inflating is asynchronous);
  // its `t` is its last frame's, so a stable sort by time restores the wire order.
  const ordered = [...events].sort((a, b) => a.t - b.t);
  for (const e of ordered) {
    if (e.type === 'http' || e.type === 'error' || e.type === 'violation') continue;
    const b = get(e.conn, e.t);
    const at = e.t - b.startedAt;
    switch (e.type) {
      case 'open':
        b.target = e.target;
        break;
      case 'handshake':
        b.request = e.request;
        b.response = e.response;
        b.upgraded = e.upgraded;
        b.protocol = e.protocol;
        b.extensions = e.extensions;
        break;
      case 'frame':
        if (e.opcode === Opcode.Continuation || e.opcode === Opcode.Text || e.opcode === Opcode.Binary) {
          b.frames[e.from].push(e.length);
        } else if (e.opcode === Opcode.Ping && !b.closes[e.from]) {
          b.steps[e.from].push({
            kind: 'ping',
            at,
            before: b.messages[other(e.from)],
            data: e.payload ?? Buffer.alloc(0),
          });
        }
        // Pongs are not replayed: the `ws` peer answers pings by itself (RFC 6455 §5.5.3).
        break;
      case 'message': {
        const data = e.data;
        const frameLengths = b.frames[e.from];
        b.frames[e.from] = [];
        const count = Math.max(1, e.frames);
        if (e.truncated) b.truncated[e.from]++;
        b.messages[e.from]++;
        b.steps[e.from].push({
          kind: 'message',
          at,
          before: b.messages[other(e.from)],
          index: b.messages[e.from],
          opcode: e.opcode,
          data,
          length: e.length,
          compressed: e.compressed,
          fragments: splitSizes(data.length, count, e.compressed ? null : frameLengths),
        });
        break;
      }
      case 'close':
        if (b.closes[e.from]) break;
        b.closes[e.from] = true;
        if (b.closeBy === null) {
          b.closeBy = e.from;
          // Only the first close is played: the `ws` peer echoes the other one (RFC 6455 §5.5.1).
          b.steps[e.from].push({ kind: 'close', at, before: b.messages[other(e.from)], code: e.code, reason: e.reason });
        }
        break;
      case 'end':
        b.endCode = e.code;
        b.endT = e.t;
        break;
    }
  }
  const out: ConnScript[] = [];
  for (const b of [...byConn.values()].sort((x, y) => x.conn - y.conn)) {
    if (b.closeBy === null && b.endCode !== null) {
      // No close frame at all: the capture ended with a TCP drop (1006); both sides can replay it.
      const at = (b.endT ?? b.lastT) - b.startedAt;
      b.steps.client.push({ kind: 'drop', at, before: b.messages.server });
      b.steps.server.push({ kind: 'drop', at, before: b.messages.client });
    }
    out.push({
      conn: b.conn,
      startedAt: b.startedAt,
      target: b.target,
      request: b.request,
      response: b.response,
      upgraded: b.upgraded,
      protocol: b.protocol,
      extensions: b.extensions,
      client: b.steps.client,
      server: b.steps.server,
      endCode: b.endCode,
      truncated: b.truncated,
    });
  }
  return out;
}

/**
 * Frame payload sizes for a message of `total` bytes in `count` frames: the captured frame lengths
 * when they add up (uncompressed messages), else an even split (a compressed message's frames carry
 * deflate output, whose boundaries cannot be reproduced; RFC 7692 §6.1 compresses the whole message).
 */
export function splitSizes(total: number, count: number, captured: readonly number[] | null): number[] {
  if (captured && captured.length === count && captured.reduce((a, b) => a + b, 0) === total) return [...captured];
  const base = Math.floor(total / count);
  const sizes: number[] = [];
  for (let i = 0; i < count; i++) sizes.push(i < total % count ? base + 1 : base);
  return sizes;
}

/** Messages of one side as `--check` compares them. */
export function answersOf(steps: readonly Step[]): AnswerMessage[] {
  const out: AnswerMessage[] = [];
  for (const s of steps) if (s.kind === 'message') out.push({ opcode: s.opcode, data: s.data, length: s.length });
  return out;
}

/** Picks `--conn N` (default: the first connection with a WebSocket handshake or messages). */
export function pickScripts(scripts: readonly ConnScript[], conn: number | 'all' | undefined, file: string): ConnScript[] {
  const usable = scripts.filter((s) => s.client.length > 0 || s.server.length > 0 || s.request !== null);
  if (usable.length === 0) throw new UsageError(`${file} has no WebSocket connection to play`);
  if (conn === 'all') return usable;
  if (conn === undefined) return [usable[0]!];
  const hit = usable.find((s) => s.conn === conn);
  if (!hit) {
    const ids = usable.map((s) => s.conn);
    const list = ids.length > 10 ? `${ids.slice(0, 10).join(', ')}, …` : ids.join(', ');
    throw new UsageError(`${file} has no connection ${conn} (it has: ${list})`);
  }
  return [hit];
}

/** `--conn N|all`. */
export function parseConn(value: string | undefined, allowAll: boolean): number | 'all' | undefined {
  if (value === undefined) return undefined;
  if (allowAll && value === 'all') return 'all';
  if (/^\d+$/.test(value) && Number(value) >= 1) return Number(value);
  throw new UsageError(`bad --conn '${value}': expected a connection number from the capture${allowAll ? ' or all' : ''}`);
}

/** The upstream a replay defaults to: the capture header's, else the captured target's origin. */
export function defaultUpstream(header: CaptureHeader | null, script: ConnScript): string | null {
  if (header?.upstream) {
    // An older capture's upstream may carry the -u query the proxy never forwarded: leave it out.
    return header.upstream.replace(/[?#][\s\S]*$/, '');
  }
  if (script.target) {
    try {
      return new URL(script.target).origin.replace(/^http/, 'ws');
    } catch {
      return null;
    }
  }
  return null;
}

/** Path and query the captured client asked for. */
export function requestTarget(script: ConnScript): string {
  if (script.request) return script.request.target;
  if (script.target) {
    try {
      const u = new URL(script.target);
      return `${u.pathname}${u.search}`;
    } catch {
      return '/';
    }
  }
  return '/';
}
