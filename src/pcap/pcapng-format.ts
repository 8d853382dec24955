/**
 * pcapng constants shared by the writer and the reader (draft-ietf-opsawg-pcapng, "PCAP Now
 * Generic"), and frametap's own local-use block. Everything frametap writes is little-endian.
 */

export const BlockType = {
  SectionHeader: 0x0a0d0d0a,
  InterfaceDescription: 0x00000001,
  /** Obsolete Packet Block (pcapng draft appendix), still read. */
  Packet: 0x00000002,
  SimplePacket: 0x00000003,
  EnhancedPacket: 0x00000006,
  /**
   * frametap's records: a local-use block type (the draft reserves types with the top bit set for
   * local use; readers skip blocks they do not know). Wireshark skips it silently; a Custom Block
   * (0x40000BAD) would show as a frame and needs a Private Enterprise Number (issue 14).
   */
  Frametap: 0x80000f7a,
} as const;

/** pcapng §4.1: the Byte-Order Magic of a Section Header Block. */
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

export const Option = {
  EndOfOpt: 0,
  Comment: 1,
  ShbUserAppl: 4,
  IfName: 2,
  IfTsresol: 9,
  IfTsoffset: 14,
} as const;

/** LINKTYPE_* values (tcpdump.org link-layer header types). */
export const LinkType = {
  Null: 0,
  Ethernet: 1,
  Raw: 101,
  LinuxSll: 113,
  Loop: 108,
  Ipv4: 228,
  Ipv6: 229,
  LinuxSll2: 276,
} as const;

/** First bytes of a frametap local-use block body, then a u32 format version. */
export const FTAP_MAGIC = Buffer.from('FTAP', 'latin1');
export const FTAP_VERSION = 1;

/** Classic pcap magic numbers (as read little-endian). */
export const PcapMagic = {
  Micro: 0xa1b2c3d4,
  Nano: 0xa1b23c4d,
} as const;

/** Interface names of frametap's two legs (capture-format.md "pcapng captures"). */
export const LEG_INTERFACE = { client: 'client-leg', upstream: 'upstream-leg' } as const;
