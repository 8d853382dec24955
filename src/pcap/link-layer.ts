/**
 * From a captured packet to its TCP segment: the link-layer headers frametap reads (Ethernet with
 * 802.1Q tags, BSD null/loopback, raw IP, Linux cooked v1 and v2), IPv4 (RFC 791) and IPv6 (RFC
 * 8200) with their extension headers, then TCP (RFC 9293). Anything else, and IP fragments, is
 * not a segment (null). Pure: no copies, views into the packet.
 */
import { LinkType } from './pcapng-format.js';

export interface TcpSegment {
  readonly src: string;
  readonly dst: string;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  readonly syn: boolean;
  readonly ackFlag: boolean;
  readonly fin: boolean;
  readonly rst: boolean;
  /** The payload bytes that were captured. */
  readonly payload: Buffer;
  /** The payload length the IP header declares (more than `payload` when the snap length cut it). */
  readonly declaredLength: number;
}

const EtherType = { Ipv4: 0x0800, Ipv6: 0x86dd, Vlan: 0x8100, QinQ: 0x88a8 } as const;

/** The TCP segment in a packet of `linkType`, or null. */
export function tcpSegmentOf(linkType: number, data: Buffer): TcpSegment | null {
  const ip = ipStart(linkType, data);
  if (ip === null) return null;
  const { at, version } = ip;
  if (at >= data.length) return null;
  const v = version ?? data[at]! >> 4;
  if (v === 4) return ipv4(data, at);
  if (v === 6) return ipv6(data, at);
  return null;
}

function ipStart(linkType: number, d: Buffer): { readonly at: number; readonly version: 4 | 6 | null } | null {
  switch (linkType) {
    case LinkType.Ethernet: {
      let at = 12;
      for (let tags = 0; tags < 4; tags++) {
        if (d.length < at + 2) return null;
        const type = d.readUInt16BE(at);
        if (type === EtherType.Vlan || type === EtherType.QinQ) {
          at += 4;
          continue;
        }
        return etherIp(type, at + 2);
      }
      return null;
    }
    case LinkType.Null:
    case LinkType.Loop: {
      if (d.length < 4) return null;
      // BSD AF_ values: 2 is IPv4; 24, 28 and 30 are IPv6 on the BSDs and macOS. Null is in the
      // writer's byte order, Loop in network order: accept either.
      const le = d.readUInt32LE(0);
      const be = d.readUInt32BE(0);
      const family = linkType === LinkType.Loop ? be : le < 256 ? le : be;
      if (family === 2) return { at: 4, version: 4 };
      if (family === 24 || family === 28 || family === 30) return { at: 4, version: 6 };
      return null;
    }
    case LinkType.Raw:
      return { at: 0, version: null };
    case LinkType.Ipv4:
      return { at: 0, version: 4 };
    case LinkType.Ipv6:
      return { at: 0, version: 6 };
    case LinkType.LinuxSll:
      // SLL v1: 16-byte header, protocol type at 14.
      return d.length < 16 ? null : etherIp(d.readUInt16BE(14), 16);
    case LinkType.LinuxSll2:
      // SLL v2: 20-byte header, protocol type at 0.
      return d.length < 20 ? null : etherIp(d.readUInt16BE(0), 20);
    default:
      return null;
  }
}

function etherIp(type: number, at: number): { readonly at: number; readonly version: 4 | 6 } | null {
  if (type === EtherType.Ipv4) return { at, version: 4 };
  if (type === EtherType.Ipv6) return { at, version: 6 };
  return null;
}

function ipv4(d: Buffer, at: number): TcpSegment | null {
  if (d.length < at + 20) return null;
  const ihl = (d[at]! & 0x0f) * 4;
  if (ihl < 20) return null;
  // RFC 791: a fragment (MF set or an offset) is not a whole segment.
  const frag = d.readUInt16BE(at + 6);
  if ((frag & 0x2000) !== 0 || (frag & 0x1fff) !== 0) return null;
  if (d[at + 9] !== 6) return null;
  const total = d.readUInt16BE(at + 2);
  if (total < ihl) return null;
  const src = `${d[at + 12]}.${d[at + 13]}.${d[at + 14]}.${d[at + 15]}`;
  const dst = `${d[at + 16]}.${d[at + 17]}.${d[at + 18]}.${d[at + 19]}`;
  // TSO captures write 0 as the total length: then the captured bytes are the datagram.
  const end = total === 0 ? d.length : at + total;
  return tcp(d, at + ihl, end, src, dst);
}

function ipv6(d: Buffer, at: number): TcpSegment | null {
  if (d.length < at + 40) return null;
  let next = d[at + 6]!;
  const payloadLength = d.readUInt16BE(at + 4);
  const src = ipv6String(d, at + 8);
  const dst = ipv6String(d, at + 24);
  const end = payloadLength === 0 ? d.length : at + 40 + payloadLength;
  let p = at + 40;
  // RFC 8200 §4: hop-by-hop (0), routing (43), destination options (60) are skipped; a fragment
  // header (44) means not a whole segment.
  for (let hops = 0; hops < 8 && (next === 0 || next === 43 || next === 60); hops++) {
    if (d.length < p + 2) return null;
    next = d[p]!;
    p += (d[p + 1]! + 1) * 8;
  }
  if (next !== 6) return null;
  return tcp(d, p, end, src, dst);
}

function tcp(d: Buffer, at: number, end: number, src: string, dst: string): TcpSegment | null {
  if (d.length < at + 20) return null;
  const offset = (d[at + 12]! >> 4) * 4;
  if (offset < 20 || at + offset > end) return null;
  const flags = d[at + 13]!;
  const payloadStart = at + offset;
  const declaredLength = Math.max(0, end - payloadStart);
  const capturedEnd = Math.min(end, d.length);
  return {
    src,
    dst,
    srcPort: d.readUInt16BE(at),
    dstPort: d.readUInt16BE(at + 2),
    seq: d.readUInt32BE(at + 4),
    ack: d.readUInt32BE(at + 8),
    fin: (flags & 0x01) !== 0,
    syn: (flags & 0x02) !== 0,
    rst: (flags & 0x04) !== 0,
    ackFlag: (flags & 0x10) !== 0,
    payload: d.subarray(Math.min(payloadStart, capturedEnd), capturedEnd),
    declaredLength,
  };
}

/** RFC 5952 text form (lower case, longest zero run as ::). */
function ipv6String(d: Buffer, at: number): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(d.readUInt16BE(at + 2 * i));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** `ip:port`, with brackets around an IPv6 address. */
export function endpointString(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
