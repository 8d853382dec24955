/**
 * `--fault SPEC` (cli.md "Changing the traffic"): WebSocket-aware faults.
 *
 *   SPEC = NAME=VALUE{,NAME=VALUE}[@client|@server][~REGEX]
 *
 * The regex runs to the end of the spec (so it may hold `,`, `@` and `=`); `@side` limits the fault
 * to what that side sends; every fault takes `rate=P%` (default 100 %). One fault per spec: repeat
 * `--fault` for more. A mistake is one UsageError line naming the spec and what is wrong.
 */
import { UsageError } from '../errors.js';
import type { Side } from '../session/events.js';

/**
 * `utf8`: a text message gets an invalid UTF-8 byte (RFC 6455 §8.1, the receiver fails with 1007);
 * `rsv1`: RSV1 set without a negotiated extension, or on a message that is not compressed (§5.2);
 * `mask`: the masking rule broken (§5.1: client frames sent unmasked, server frames masked).
 */
export type CorruptKind = 'utf8' | 'rsv1' | 'mask';

export type FaultKind =
  | { readonly kind: 'latency'; readonly ms: number; readonly jitterMs: number }
  | { readonly kind: 'drop' }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'swallow'; readonly control: 'ping' | 'pong' }
  | { readonly kind: 'corrupt'; readonly corrupt: CorruptKind }
  | { readonly kind: 'fragment'; readonly frames: number }
  | { readonly kind: 'cut-after'; readonly ms: number }
  | { readonly kind: 'cut-after'; readonly messages: number }
  | { readonly kind: 'refuse'; readonly status: number };

export type Fault = FaultKind & {
  /** The spec as given: the `name` of this fault's `intercept` events. */
  readonly spec: string;
  /** Probability in [0, 1] that the fault applies to a given message (or connection, for refuse/cut-after). */
  readonly rate: number;
  /** Only what this side sends; null: both. */
  readonly side: Side | null;
  /** Only connections whose request target matches; null: all. */
  readonly path: RegExp | null;
};

/** Most frames a message may be re-framed into (each frame costs a header and a write part). */
export const MAX_FRAGMENTS = 1024;

const PRIMARY = ['latency', 'drop', 'duplicate', 'swallow', 'corrupt', 'fragment', 'cut-after', 'refuse'] as const;
type Primary = (typeof PRIMARY)[number];
const MODIFIERS = ['rate', 'jitter'] as const;

/** Parses one `--fault` value. */
export function parseFault(spec: string): Fault {
  const fail = (why: string): never => {
    throw new UsageError(`bad --fault '${spec}': ${why}`);
  };
  let rest = spec.trim();
  let path: RegExp | null = null;
  const tilde = rest.indexOf('~');
  if (tilde >= 0) {
    const source = rest.slice(tilde + 1);
    rest = rest.slice(0, tilde);
    if (source === '') fail("nothing after '~' (expected a regex of the request path, e.g. ~^/chat)");
    try {
      path = new RegExp(source);
    } catch (error) {
      fail(`bad path regex '${source}': ${(error as Error).message}`);
    }
  }
  let side: Side | null = null;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const who = rest.slice(at + 1);
    if (who !== 'client' && who !== 'server') fail(`'@${who}' is not a side (expected @client or @server)`);
    side = who as Side;
    rest = rest.slice(0, at);
  }
  if (rest === '') fail(`no fault given (expected NAME=VALUE, NAME one of ${PRIMARY.join(', ')})`);

  const values = new Map<string, string>();
  for (const part of rest.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) fail(`'${part}' is not NAME=VALUE`);
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (!(PRIMARY as readonly string[]).includes(name) && !(MODIFIERS as readonly string[]).includes(name)) {
      fail(`unknown fault '${name}' (expected one of ${PRIMARY.join(', ')}; modifiers rate, jitter)`);
    }
    if (values.has(name)) fail(`'${name}' given twice`);
    if (value === '') fail(`'${name}' has no value`);
    values.set(name, value);
  }
  const primaries = PRIMARY.filter((p) => values.has(p));
  if (primaries.length === 0) fail(`no fault given, only ${[...values.keys()].join(', ')} (expected one of ${PRIMARY.join(', ')})`);
  if (primaries.length > 1) fail(`one fault per --fault, got ${primaries.join(' and ')} (repeat --fault for more)`);
  const primary: Primary = primaries[0]!;
  const value = values.get(primary)!;
  if (values.has('jitter') && primary !== 'latency') fail("'jitter' only goes with latency");

  let rate = values.has('rate') ? percent(values.get('rate')!, 'rate', fail) : 1;
  let kind: FaultKind;
  switch (primary) {
    case 'latency': {
      const ms = duration(value, 'latency', fail);
      const jitterMs = values.has('jitter') ? duration(values.get('jitter')!, 'jitter', fail) : 0;
      kind = { kind: 'latency', ms, jitterMs };
      break;
    }
    case 'drop':
    case 'duplicate':
      // `drop=5%` is the probability itself; rate= would say it twice.
      if (values.has('rate')) fail(`give the probability once: '${primary}=P%' is already a rate`);
      rate = percent(value, primary, fail);
      kind = { kind: primary };
      break;
    case 'swallow':
      if (value !== 'ping' && value !== 'pong') fail(`swallow=${value}: expected swallow=ping or swallow=pong`);
      kind = { kind: 'swallow', control: value as 'ping' | 'pong' };
      break;
    case 'corrupt':
      if (value !== 'utf8' && value !== 'rsv1' && value !== 'mask') fail(`corrupt=${value}: expected corrupt=utf8, corrupt=rsv1 or corrupt=mask`);
      kind = { kind: 'corrupt', corrupt: value as CorruptKind };
      break;
    case 'fragment': {
      if (!/^\d+$/.test(value)) fail(`fragment=${value}: expected a number of frames, e.g. fragment=8`);
      const frames = Number(value);
      if (frames < 1 || frames > MAX_FRAGMENTS) fail(`fragment=${value}: expected 1 to ${MAX_FRAGMENTS} frames`);
      kind = { kind: 'fragment', frames };
      break;
    }
    case 'cut-after': {
      const m = /^(\d+)msg$/.exec(value);
      if (m) {
        const messages = Number(m[1]);
        if (messages < 1 || !Number.isSafeInteger(messages)) fail(`cut-after=${value}: expected at least 1msg`);
        kind = { kind: 'cut-after', messages };
      } else {
        if (!DURATION.test(value)) fail(`cut-after=${value}: expected a time like 30s or a message count like 100msg`);
        if (side !== null) fail('cut-after=TIME cuts the whole connection: drop @' + side + ' (a message count may take @client/@server)');
        kind = { kind: 'cut-after', ms: duration(value, 'cut-after', fail) };
      }
      break;
    }
    case 'refuse': {
      if (!/^\d{3}$/.test(value)) fail(`refuse=${value}: expected an HTTP status like 503`);
      const status = Number(value);
      if (status < 200 || status > 599) fail(`refuse=${value}: expected a status from 200 to 599 (101 would not refuse)`);
      if (side !== null) fail(`refuse answers the upgrade itself: drop @${side}`);
      kind = { kind: 'refuse', status };
      break;
    }
  }
  return { ...kind!, spec, rate, side, path };
}

/** Parses every `--fault` value; the first mistake is the UsageError. */
export function parseFaults(specs: readonly string[]): readonly Fault[] {
  return specs.map(parseFault);
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m)$/;

function duration(value: string, name: string, fail: (why: string) => never): number {
  const m = DURATION.exec(value);
  if (!m) return fail(`${name}=${value}: expected a duration like 200ms, 1.5s or 2m`);
  const n = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
  // setTimeout holds at most 2^31-1 ms (about 24.8 days).
  if (n > 2_147_483_647) return fail(`${name}=${value}: longer than 24 days`);
  return n;
}

function percent(value: string, name: string, fail: (why: string) => never): number {
  const m = /^(\d+(?:\.\d+)?)%$/.exec(value);
  if (!m) return fail(`${name}=${value}: expected a percentage like 5% or 0.5%`);
  const p = Number(m[1]);
  if (p <= 0 || p > 100) return fail(`${name}=${value}: expected more than 0% and at most 100%`);
  return p / 100;
}

/**
 * A small seeded PRNG (sfc32, Chris Doty-Humphrey's Small Fast Counter) so `--seed N` repeats a
 * run's random choices. One stream per connection, direction and fault (seeded from all four), so
 * one connection's choices do not depend on how other connections interleave with it.
 */
export class Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number, ...streams: readonly number[]) {
    let h = mix32(seed >>> 0 ^ 0x9e3779b9);
    const hi = Math.floor(seed / 2 ** 32) >>> 0;
    h = mix32(h ^ hi);
    for (const s of streams) h = mix32(h ^ (s >>> 0) ^ 0x85ebca6b);
    this.#a = h;
    this.#b = mix32(h ^ 0x1b873593);
    this.#c = mix32(h ^ 0xcc9e2d51);
    this.#d = 1;
    for (let i = 0; i < 12; i++) this.next();
  }

  /** A uniform float in [0, 1). */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** True with probability `p` (always for p ≥ 1, never drawing a number then, so 100 % faults do not shift the stream). */
  chance(p: number): boolean {
    if (p >= 1) return true;
    return this.next() < p;
  }
}

/** murmur3's 32-bit finaliser: spreads a seed's bits. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** `--seed N`: a non-negative integer. */
export function parseSeed(value: string): number {
  if (!/^\d{1,15}$/.test(value.trim())) throw new UsageError(`bad --seed '${value}': expected a whole number like 42`);
  return Number(value.trim());
}
