/**
 * Encodes pcapng blocks (draft-ietf-opsawg-pcapng §4) little-endian into a BlockArena: the Section
 * Header, one Interface Description per leg (raw IPv4, nanosecond timestamps), Enhanced Packet
 * Blocks and frametap's local-use records.
 */
import type { BlockArena } from './block-arena.js';
import { BlockType, BYTE_ORDER_MAGIC, FTAP_MAGIC, FTAP_VERSION, LinkType, Option } from './pcapng-format.js';
import { checksumOf, sum16Fast } from './checksum.js';
import { TCP_CHECKSUM_OFFSET } from './tcp-synth.js';

const pad4 = (n: number): number => (n + 3) & ~3;

function optionSize(valueLength: number): number {
  return 4 + pad4(valueLength);
}

function writeOption(buf: Buffer, at: number, code: number, value: Uint8Array): number {
  buf.writeUInt16LE(code, at);
  buf.writeUInt16LE(value.length, at + 2);
  buf.set(value, at + 4);
  const end = at + 4 + value.length;
  buf.fill(0, end, at + optionSize(value.length));
  return at + optionSize(value.length);
}

function writeOptions(buf: Buffer, at: number, options: readonly (readonly [number, Uint8Array])[]): number {
  if (options.length === 0) return at;
  for (const [code, value] of options) at = writeOption(buf, at, code, value);
  buf.writeUInt32LE(0, at); // opt_endofopt
  return at + 4;
}

function optionsSize(options: readonly (readonly [number, Uint8Array])[]): number {
  if (options.length === 0) return 0;
  let n = 4;
  for (const [, value] of options) n += optionSize(value.length);
  return n;
}

function block(arena: BlockArena, type: number, bodyLength: number, fill: (buf: Buffer, at: number) => void): number {
  const total = 12 + bodyLength;
  const { buf, at } = arena.reserve(total);
  buf.writeUInt32LE(type, at);
  buf.writeUInt32LE(total, at + 4);
  fill(buf, at + 8);
  buf.writeUInt32LE(total, at + total - 4);
  return at;
}

/** §4.1 Section Header Block with `shb_userappl`. */
export function encodeSectionHeader(arena: BlockArena, userAppl: string): void {
  const options: [number, Uint8Array][] = [[Option.ShbUserAppl, Buffer.from(userAppl, 'utf8')]];
  block(arena, BlockType.SectionHeader, 16 + optionsSize(options), (buf, at) => {
    buf.writeUInt32LE(BYTE_ORDER_MAGIC, at);
    buf.writeUInt16LE(1, at + 4);
    buf.writeUInt16LE(0, at + 6);
    // Section length -1: not known in advance (written as a stream).
    buf.writeInt32LE(-1, at + 8);
    buf.writeInt32LE(-1, at + 12);
    writeOptions(buf, at + 16, options);
  });
}

/** §4.2 Interface Description Block: raw IP (LINKTYPE_RAW), no snap length, `if_tsresol` 9 (ns). */
export function encodeInterface(arena: BlockArena, name: string): void {
  const options: [number, Uint8Array][] = [
    [Option.IfName, Buffer.from(name, 'utf8')],
    [Option.IfTsresol, Uint8Array.of(9)],
  ];
  block(arena, BlockType.InterfaceDescription, 8 + optionsSize(options), (buf, at) => {
    buf.writeUInt16LE(LinkType.Raw, at);
    buf.writeUInt16LE(0, at + 2);
    buf.writeUInt32LE(0, at + 4);
    writeOptions(buf, at + 8, options);
  });
}

/** The halves `splitNanos` computed last (module state: no object per packet). */
let nanosHigh = 0;
let nanosLow = 0;

/**
 * Nanoseconds since the epoch of `t` (ms, float) as the two 32-bit halves of §4.3, exactly:
 * the product does not fit a double, so it is built from parts that do.
 */
function splitNanos(t: number): void {
  const ms = Math.floor(t);
  const fracNs = Math.round((t - ms) * 1e6);
  const mh = Math.floor(ms / 2 ** 21);
  const ml = ms - mh * 2 ** 21;
  const x = mh * 1e6; // contributes x * 2^21
  const y = ml * 1e6 + fracNs;
  let low = (x % 2 ** 11) * 2 ** 21 + (y % 2 ** 32);
  const carry = Math.floor(low / 2 ** 32);
  low -= carry * 2 ** 32;
  nanosHigh = Math.floor(x / 2 ** 11) + Math.floor(y / 2 ** 32) + carry;
  nanosLow = low;
}

export function nanosHalves(t: number): { readonly high: number; readonly low: number } {
  splitNanos(t);
  return { high: nanosHigh, low: nanosLow };
}

let lastPayloadSum = 0;

/** The payload sum of the last packet `encodePacket` wrote with a payload (to reuse for the same bytes). */
export function lastPacketPayloadSum(): number {
  return lastPayloadSum;
}

/** Where an Enhanced Packet Block sits in the arena, so a comment can still be added to it. */
export interface PacketPlace {
  readonly generation: number;
  offset: number;
  hasOptions: boolean;
}

/**
 * §4.3 Enhanced Packet Block of a synthesized segment, `header` + `payload[start, end)`. The TCP
 * checksum is finished here, over the copy in the arena (4-aligned: blocks are, and so is a
 * 40-byte header after the 28 bytes of block fields), where summing 32 bits at a time is cheap.
 */
export function encodePacket(
  arena: BlockArena,
  iface: number,
  t: number,
  header: Uint8Array,
  payload: Uint8Array,
  start: number,
  end: number,
  partialSum: number,
  /** The payload's `sum16` when already known (the same bytes relayed on the other leg). */
  payloadSum: number | null = null,
): number {
  // Written in place, not through `block`: this runs for every relayed chunk on both legs.
  const captured = header.length + (end - start);
  const total = 32 + pad4(captured);
  const { buf, at: blockAt } = arena.reserve(total);
  buf.writeUInt32LE(BlockType.EnhancedPacket, blockAt);
  buf.writeUInt32LE(total, blockAt + 4);
  const at = blockAt + 8;
  splitNanos(t);
  buf.writeUInt32LE(nanosHigh, at + 4);
  buf.writeUInt32LE(nanosLow, at + 8);
  buf.writeUInt32LE(iface, at);
  buf.writeUInt32LE(captured, at + 12);
  buf.writeUInt32LE(captured, at + 16);
  buf.set(header, at + 20);
  const data = at + 20 + header.length;
  if (end > start) {
    buf.set(start === 0 && end === payload.length ? payload : payload.subarray(start, end), data);
    if (header.length >= TCP_CHECKSUM_OFFSET + 2) {
      lastPayloadSum = payloadSum ?? sum16Fast(buf, data, data + (end - start));
      buf.writeUInt16BE(checksumOf(partialSum + lastPayloadSum), at + 20 + TCP_CHECKSUM_OFFSET);
    }
  }
  for (let i = at + 20 + captured; i < at + 20 + pad4(captured); i++) buf[i] = 0;
  buf.writeUInt32LE(total, blockAt + total - 4);
  return blockAt;
}

/**
 * Adds an `opt_comment` to the packet block at `place` (still in the arena): inserted before the
 * trailing length (or before the existing opt_endofopt), both length fields updated. Returns the
 * number of bytes inserted, so later places can be moved.
 */
export function addPacketComment(arena: BlockArena, place: PacketPlace, comment: string): number {
  const buf0 = arena.buffer;
  const total = buf0.readUInt32LE(place.offset + 4);
  const text = Buffer.from(comment, 'utf8').subarray(0, 0xfff0);
  const option = Buffer.alloc(optionSize(text.length) + (place.hasOptions ? 0 : 4));
  writeOption(option, 0, Option.Comment, text);
  const at = place.offset + total - 4 - (place.hasOptions ? 4 : 0);
  const buf = arena.insert(at, option);
  const newTotal = total + option.length;
  buf.writeUInt32LE(newTotal, place.offset + 4);
  buf.writeUInt32LE(newTotal, place.offset + newTotal - 4);
  place.hasOptions = true;
  return option.length;
}

/** frametap's local-use block: `FTAP`, u32 version, then one JSON record (UTF-8), zero-padded. */
export function encodeFrametapRecord(arena: BlockArena, json: Uint8Array): void {
  const body = 8 + json.length;
  block(arena, BlockType.Frametap, pad4(body), (buf, at) => {
    buf.set(FTAP_MAGIC, at);
    buf.writeUInt32LE(FTAP_VERSION, at + 4);
    buf.set(json, at + 8);
    buf.fill(0, at + body, at + pad4(body));
  });
}
