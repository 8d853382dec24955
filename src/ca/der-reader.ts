/**
 * Just enough DER reading (X.690 §8.1) to take the subject Name out of a certificate frametap
 * made, so that leaves name their issuer with exactly the CA's bytes (RFC 5280 §7.1: names are
 * compared after canonicalisation, but byte equality is what every verifier tries first).
 */

export interface Tlv {
  readonly tag: number;
  /** Offset of the first content byte. */
  readonly start: number;
  /** Offset just past the content. */
  readonly end: number;
  /** Offset of the tag byte. */
  readonly headerStart: number;
}

export function readTlv(der: Uint8Array, offset: number): Tlv {
  if (offset + 2 > der.length) throw new RangeError(`DER: truncated at offset ${offset}`);
  const tag = der[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new RangeError(`DER: multi-byte tag at offset ${offset}`);
  let length = der[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || start + count > der.length) throw new RangeError(`DER: bad length at offset ${offset}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[start + i]!;
    start += count;
  }
  const end = start + length;
  if (end > der.length) throw new RangeError(`DER: content past the end at offset ${offset}`);
  return { tag, start, end, headerStart: offset };
}

/** The children of a constructed TLV. */
export function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const child = readTlv(der, at);
    out.push(child);
    at = child.end;
  }
  return out;
}

/** RFC 5280 §4.1: Certificate → tbsCertificate → subject (after version, serial, signature, issuer, validity). */
export function certificateSubject(der: Uint8Array): Buffer {
  const cert = readTlv(der, 0);
  const tbs = children(der, cert)[0];
  if (!tbs || tbs.tag !== 0x30) throw new RangeError('DER: not a certificate');
  const fields = children(der, tbs);
  const skip = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[skip + 4];
  if (!subject || subject.tag !== 0x30) throw new RangeError('DER: certificate has no subject');
  return Buffer.from(der.subarray(subject.headerStart, subject.end));
}
