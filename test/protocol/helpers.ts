/** Shared helpers of the protocol tests: hex, vectors, splitting, event summaries. */
import { createHash } from 'node:crypto';
import { DirectionInspector } from '../../src/protocol/direction-inspector.js';
import type { DeflateDirectionParams, Sender, WireEvent } from '../../src/protocol/wire-events.js';

export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/0x|[\s,]/g, ''), 'hex');
}

/** A vector's bytes: hex strings and `{fill, length}` runs of one byte. */
export type Segment = string | { readonly fill: string; readonly length: number };

export function bytesOf(segments: readonly Segment[]): Buffer {
  return Buffer.concat(segments.map((s) => (typeof s === 'string' ? hex(s) : Buffer.alloc(s.length, hex(s.fill)))));
}

/** Short, readable form of payload bytes: hex, `ab*256` for a run, or a digest for long data. */
export function showBytes(data: Buffer): string {
  if (data.length > 16 && data.every((b) => b === data[0])) return `${data.subarray(0, 1).toString('hex')}*${data.length}`;
  if (data.length <= 64) return data.toString('hex');
  return `sha256:${createHash('sha256').update(data).digest('hex').slice(0, 16)}/${data.length}`;
}

/** One line per wire event (no timestamps), for exact ordered comparisons. */
export function summarize(event: WireEvent): string {
  switch (event.kind) {
    case 'frame': {
      const h = event.header;
      const bits = `${h.fin ? 'F' : '-'}${h.rsv1 ? '1' : '-'}${h.rsv2 ? '2' : '-'}${h.rsv3 ? '3' : '-'}`;
      let line = `frame@${h.offset} ${bits} op=${h.opcode} ${h.masked ? 'masked' : 'unmasked'} len=${h.length} payload=${showBytes(event.payload)}`;
      if (event.truncated) line += ' truncated';
      if (h.violated) line += ' violated';
      if (event.incompleteReceived !== undefined) line += ` incomplete=${event.incompleteReceived}`;
      return line;
    }
    case 'message': {
      const body = event.opcode === 1 && event.utf8Valid ? `text=${JSON.stringify(event.data.toString('utf8'))}` : `data=${showBytes(event.data)}`;
      return `message op=${event.opcode}${event.compressed ? ' compressed' : ''} frames=${event.frames} len=${event.length} ${body}${event.truncated ? ' truncated' : ''}${event.utf8Valid ? '' : ' utf8-invalid'}`;
    }
    case 'close':
      return `close code=${event.code} reason=${JSON.stringify(event.reason)}`;
    case 'violation':
      return `violation ${event.rule} ${event.code} @${event.offset}`;
  }
}

export interface InspectOptions {
  readonly from: Sender;
  readonly maxPayload?: number;
  readonly deflate?: DeflateDirectionParams | null;
}

/** Feed chunks to a fresh DirectionInspector (t = chunk index), end it, return every event. */
export async function inspect(chunks: readonly Buffer[], options: InspectOptions): Promise<WireEvent[]> {
  const events: WireEvent[] = [];
  const inspector = new DirectionInspector({
    from: options.from,
    maxPayload: options.maxPayload ?? 1024 * 1024,
    deflate: options.deflate ?? null,
    onEvent: (e) => events.push(e),
  });
  chunks.forEach((chunk, i) => inspector.push(chunk, i));
  await inspector.end(chunks.length);
  inspector.dispose();
  return events;
}

export async function inspectSummary(chunks: readonly Buffer[], options: InspectOptions): Promise<string[]> {
  return (await inspect(chunks, options)).map(summarize);
}

/** Every way to cut `data` in two, plus one byte at a time. */
export function* splits(data: Buffer): Generator<Buffer[]> {
  for (let cut = 1; cut < data.length; cut++) yield [data.subarray(0, cut), data.subarray(cut)];
  yield Array.from({ length: data.length }, (_, i) => data.subarray(i, i + 1));
}

/** Deterministic PRNG (mulberry32) so fuzz and random round trips are reproducible from a seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const DEFLATE_TAKEOVER: DeflateDirectionParams = { noContextTakeover: false, maxWindowBits: 15 };
export const DEFLATE_NO_TAKEOVER: DeflateDirectionParams = { noContextTakeover: true, maxWindowBits: 15 };
