/**
 * Reads pcapng (draft-ietf-opsawg-pcapng) and classic pcap files, sans-io: bytes in, records out.
 * Hostile input is expected: a block length that is too small, unaligned, larger than
 * MAX_BLOCK_BYTES or whose trailing copy disagrees stops the reading with one problem line and
 * keeps everything before it; a file cut inside a block (a crash, `kill -9`) keeps every complete
 * block. Memory is bounded by one block plus one input chunk.
 */
import { BlockType, BYTE_ORDER_MAGIC, FTAP_MAGIC, Option, PcapMagic } from './pcapng-format.js';

/** No real packet or frametap record comes near this; a larger declared block is corruption. */
export const MAX_BLOCK_BYTES = 16 * 1024 * 1024;
/** Interfaces per section (each keeps a few numbers); more is a hostile file. */
const MAX_INTERFACES = 65536;

export interface CaptureInterface {
  readonly linkType: number;
  readonly name: string | null;
  /** Timestamp units per millisecond as (numerator) BigInt ticks → ms conversion. */
  readonly ticksPerSecond: bigint;
  /** `if_tsoffset`, seconds. */
  readonly offsetSeconds: bigint;
}

export type CaptureRecord =
  | {
      readonly kind: 'packet';
      readonly iface: CaptureInterface;
      /** ms since the epoch. */
      readonly t: number;
      /** Captured bytes (a view into the input: copy to keep). */
      readonly data: Buffer;
      readonly originalLength: number;
      /** Record's byte offset in the file (for messages). */
      readonly offset: number;
    }
  | { readonly kind: 'frametap'; readonly version: number; readonly json: string; readonly offset: number };

export type CaptureKind = 'pcapng' | 'pcap';

/** What the first four bytes say the file is, or null when it is no packet capture. */
export function sniffCapture(head: Uint8Array): CaptureKind | null {
  if (head.length < 4) return null;
  const le = Buffer.from(head.buffer, head.byteOffset, 4).readUInt32LE(0);
  if (le === BlockType.SectionHeader) return 'pcapng';
  const be = Buffer.from(head.buffer, head.byteOffset, 4).readUInt32BE(0);
  for (const m of [le, be]) if (m === PcapMagic.Micro || m === PcapMagic.Nano) return 'pcap';
  return null;
}

export class CaptureParseError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

/**
 * Push parser for either format. `push` returns the records completed by `chunk`; at a corrupt
 * block it stops and `problem` says why (everything returned before stands). `end` returns a
 * warning when the input stopped inside a block.
 */
const EMPTY = Buffer.alloc(0);
/** Bytes of the next read first joined to complete a unit that spans reads (most blocks are smaller). */
const SPAN_FIRST_TRY = 64 * 1024;

export class CaptureParser {
  #buf: Buffer = EMPTY;
  /** File offset of #buf[0]. */
  #base = 0;
  #kind: CaptureKind | null = null;
  #le = true;
  #interfaces: CaptureInterface[] = [];
  /** Classic pcap's one interface. */
  #pcapIface: CaptureInterface | null = null;
  #failed = false;
  #problem: string | null = null;

  get kind(): CaptureKind | null {
    return this.#kind;
  }

  push(chunk: Buffer): CaptureRecord[] {
    if (this.#failed) return [];
    const out: CaptureRecord[] = [];
    try {
      let buf = chunk;
      let used = 0;
      if (this.#buf.length > 0) {
        const joined = this.#spanning(chunk, out);
        if (joined === null) return out;
        ({ buf, used } = joined);
      }
      for (;;) {
        const n = this.#next(buf, used, out);
        if (n === 0) break;
        used += n;
      }
      this.#buf = used === buf.length ? EMPTY : buf.subarray(used);
      this.#base += used;
    } catch (error) {
      if (!(error instanceof CaptureParseError)) throw error;
      this.#failed = true;
      this.#problem = error.message;
      this.#buf = EMPTY;
    }
    return out;
  }

  /**
   * Completes the unit the last push left incomplete (`#buf`) from the start of `chunk`, joining
   * only the bytes it needs: joining whole reads copied every byte of the file once more, the
   * reader's largest cost after the read itself. Returns where parsing goes on (`#base` is the
   * file offset of `buf[0]`), or null when all of `chunk` went into the still incomplete unit.
   */
  #spanning(chunk: Buffer, out: CaptureRecord[]): { buf: Buffer; used: number } | null {
    const held = this.#buf;
    let take = Math.min(chunk.length, Math.max(SPAN_FIRST_TRY, held.length));
    for (;;) {
      const joined = Buffer.concat([held, chunk.subarray(0, take)]);
      // Safe to try again with more bytes: a unit that needs more has changed nothing.
      const n = this.#next(joined, 0, out);
      if (n === 0) {
        if (take < chunk.length) {
          take = Math.min(chunk.length, take * 4);
          continue;
        }
        this.#buf = joined;
        return null;
      }
      this.#buf = EMPTY;
      if (n >= held.length) {
        this.#base += held.length;
        return { buf: chunk, used: n - held.length };
      }
      // The held bytes held a whole unit (they never do: they are left only when incomplete).
      return { buf: Buffer.concat([held, chunk]), used: n };
    }
  }

  /** Why reading stopped (a corrupt block), null while all is well; records before it stand. */
  get problem(): string | null {
    return this.#problem;
  }

  /** A warning when the input ended inside a block (the capture was cut short), else null. */
  end(): string | null {
    if (this.#failed || this.#buf.length === 0) return null;
    if (this.#kind === null) return `the file is too short to be a packet capture (${this.#buf.length} bytes)`;
    return `the capture ends inside a ${this.#kind === 'pcap' ? 'packet record' : 'block'} at byte ${this.#base} (cut short, e.g. by a crash); the ${this.#buf.length} bytes there are skipped`;
  }

  /** Parses one unit at `at`: bytes consumed, or 0 when more input is needed. */
  #next(buf: Buffer, at: number, out: CaptureRecord[]): number {
    const avail = buf.length - at;
    if (this.#kind === null) {
      if (avail < 4) return 0;
      const kind = sniffCapture(buf.subarray(at, at + 4));
      if (kind === null) throw new CaptureParseError('not a pcap or pcapng file (unknown magic number)', 0);
      this.#kind = kind;
    }
    return this.#kind === 'pcap' ? this.#pcapNext(buf, at, avail, out) : this.#ngNext(buf, at, avail, out);
  }

  #u32(buf: Buffer, at: number): number {
    return this.#le ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
  }

  #u16(buf: Buffer, at: number): number {
    return this.#le ? buf.readUInt16LE(at) : buf.readUInt16BE(at);
  }

  #ngNext(buf: Buffer, at: number, avail: number, out: CaptureRecord[]): number {
    if (avail < 12) return 0;
    const offset = this.#base + at;
    const type = buf.readUInt32LE(at);
    if (type === BlockType.SectionHeader) {
      // §4.1: the byte order of the whole section comes from the Byte-Order Magic.
      const magicLe = buf.readUInt32LE(at + 8);
      if (magicLe === BYTE_ORDER_MAGIC) this.#le = true;
      else if (buf.readUInt32BE(at + 8) === BYTE_ORDER_MAGIC) this.#le = false;
      else throw new CaptureParseError(`bad byte-order magic in the section header at byte ${offset}`, offset);
      this.#interfaces = [];
    }
    const length = this.#u32(buf, at + 4);
    if (length < 12 || length % 4 !== 0) {
      throw new CaptureParseError(`corrupt pcapng block at byte ${offset}: length ${length} is ${length < 12 ? 'below the 12-byte minimum' : 'not a multiple of 4'}; reading stops here`, offset);
    }
    if (length > MAX_BLOCK_BYTES) {
      throw new CaptureParseError(`pcapng block at byte ${offset} declares ${length} bytes, more than the ${MAX_BLOCK_BYTES / 1024 / 1024} MiB frametap reads in one block (corrupt?); reading stops here`, offset);
    }
    if (avail < length) return 0;
    if (this.#u32(buf, at + length - 4) !== length) {
      throw new CaptureParseError(`corrupt pcapng block at byte ${offset}: its trailing length differs from its leading one; reading stops here`, offset);
    }
    const body = buf.subarray(at + 8, at + length - 4);
    const blockType = type === BlockType.SectionHeader ? type : this.#u32(buf, at);
    switch (blockType) {
      case BlockType.InterfaceDescription:
        this.#interface(body, offset);
        break;
      case BlockType.EnhancedPacket:
        this.#enhancedPacket(body, offset, out);
        break;
      case BlockType.SimplePacket: {
        const iface = this.#interfaces[0];
        if (iface === undefined || body.length < 4) break;
        const original = this.#u32(body, 0);
        out.push({ kind: 'packet', iface, t: 0, data: body.subarray(4, 4 + Math.min(original, body.length - 4)), originalLength: original, offset });
        break;
      }
      case BlockType.Packet: {
        if (body.length < 20) break;
        const iface = this.#interfaces[this.#u16(body, 0)];
        if (iface === undefined) break;
        const captured = this.#u32(body, 12);
        if (captured > body.length - 20) throw new CaptureParseError(`corrupt packet block at byte ${offset}: captured length ${captured} exceeds the block`, offset);
        out.push({ kind: 'packet', iface, t: ticksToMs(iface, this.#u32(body, 4), this.#u32(body, 8)), data: body.subarray(20, 20 + captured), originalLength: this.#u32(body, 16), offset });
        break;
      }
      case BlockType.Frametap: {
        if (body.length >= 8 && body.subarray(0, 4).equals(FTAP_MAGIC)) {
          let end = body.length;
          while (end > 8 && body[end - 1] === 0) end--;
          out.push({ kind: 'frametap', version: this.#u32(body, 4), json: body.toString('utf8', 8, end), offset });
        }
        break;
      }
      default:
        // Unknown and other blocks (name resolution, statistics, custom): skipped, as §3 allows.
        break;
    }
    return length;
  }

  #interface(body: Buffer, offset: number): void {
    if (body.length < 8) throw new CaptureParseError(`corrupt interface description at byte ${offset}`, offset);
    if (this.#interfaces.length >= MAX_INTERFACES) throw new CaptureParseError(`more than ${MAX_INTERFACES} interfaces in one section at byte ${offset}`, offset);
    const linkType = this.#u16(body, 0);
    let name: string | null = null;
    let ticksPerSecond = 1_000_000n;
    let offsetSeconds = 0n;
    for (const [code, value] of this.#options(body, 8)) {
      if (code === Option.IfName) name = value.toString('utf8');
      else if (code === Option.IfTsresol && value.length >= 1) {
        // §4.2 if_tsresol: top bit set means a power of two, else a power of ten.
        const v = value[0]!;
        const exp = BigInt(v & 0x7f);
        if ((v & 0x7f) <= 63) ticksPerSecond = v & 0x80 ? 1n << exp : 10n ** exp;
      } else if (code === Option.IfTsoffset && value.length >= 8) {
        offsetSeconds = this.#le ? value.readBigInt64LE(0) : value.readBigInt64BE(0);
      }
    }
    this.#interfaces.push({ linkType, name, ticksPerSecond, offsetSeconds });
  }

  *#options(body: Buffer, at: number): Generator<readonly [number, Buffer]> {
    while (at + 4 <= body.length) {
      const code = this.#u16(body, at);
      const len = this.#u16(body, at + 2);
      if (code === Option.EndOfOpt) return;
      if (at + 4 + len > body.length) return;
      yield [code, body.subarray(at + 4, at + 4 + len)];
      at += 4 + ((len + 3) & ~3);
    }
  }

  #enhancedPacket(body: Buffer, offset: number, out: CaptureRecord[]): void {
    if (body.length < 20) throw new CaptureParseError(`corrupt enhanced packet block at byte ${offset}: too short`, offset);
    const id = this.#u32(body, 0);
    const iface = this.#interfaces[id];
    if (iface === undefined) throw new CaptureParseError(`packet at byte ${offset} names interface ${id}, which the section does not describe`, offset);
    const captured = this.#u32(body, 12);
    if (captured > body.length - 20) throw new CaptureParseError(`corrupt packet block at byte ${offset}: captured length ${captured} exceeds the block`, offset);
    out.push({ kind: 'packet', iface, t: ticksToMs(iface, this.#u32(body, 4), this.#u32(body, 8)), data: body.subarray(20, 20 + captured), originalLength: this.#u32(body, 16), offset });
  }

  #pcapNext(buf: Buffer, at: number, avail: number, out: CaptureRecord[]): number {
    const offset = this.#base + at;
    if (this.#pcapIface === null) {
      if (avail < 24) return 0;
      const le = buf.readUInt32LE(at);
      this.#le = le === PcapMagic.Micro || le === PcapMagic.Nano;
      const magic = this.#u32(buf, at);
      // The link type is the low 16 bits of the last header field (the rest: FCS length bits).
      const linkType = this.#u32(buf, at + 20) & 0xffff;
      this.#pcapIface = { linkType, name: null, ticksPerSecond: magic === PcapMagic.Nano ? 1_000_000_000n : 1_000_000n, offsetSeconds: 0n };
      return 24;
    }
    if (avail < 16) return 0;
    const captured = this.#u32(buf, at + 8);
    if (captured > MAX_BLOCK_BYTES) {
      throw new CaptureParseError(`pcap record at byte ${offset} declares ${captured} captured bytes, more than the ${MAX_BLOCK_BYTES / 1024 / 1024} MiB frametap reads (corrupt?); reading stops here`, offset);
    }
    if (avail < 16 + captured) return 0;
    const iface = this.#pcapIface;
    const seconds = this.#u32(buf, at);
    const fraction = this.#u32(buf, at + 4);
    const t = iface.ticksPerSecond === 1_000_000n ? seconds * 1000 + fraction / 1000 : seconds * 1000 + fraction / 1e6;
    out.push({ kind: 'packet', iface, t, data: buf.subarray(at + 16, at + 16 + captured), originalLength: this.#u32(buf, at + 12), offset });
    return 16 + captured;
  }
}

/** A 64-bit timestamp in the interface's units → ms since the epoch (the nearest double). */
function ticksToMs(iface: CaptureInterface, high: number, low: number): number {
  const ticks = (BigInt(high) << 32n) | BigInt(low);
  const perSecond = iface.ticksPerSecond;
  const offsetMs = Number(iface.offsetSeconds) * 1000;
  if (perSecond % 1000n === 0n) {
    const perMs = perSecond / 1000n;
    return Number(ticks / perMs) + Number(ticks % perMs) / Number(perMs) + offsetMs;
  }
  return (Number(ticks) * 1000) / Number(perSecond) + offsetMs;
}
