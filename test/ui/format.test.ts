import { describe, expect, it } from 'vitest';
import {
  formatCloseLine,
  formatDuration,
  formatFlags,
  formatFrameRow,
  formatMessageRow,
  formatSize,
  hexDump,
  oneLine,
  prettyJson,
  printableText,
} from '../../ui/format.js';
import { binary, frame, text } from './events.js';

describe('format', () => {
  it('names close codes', () => {
    expect(formatCloseLine(1000)).toBe('1000 Normal Closure');
    expect(formatCloseLine(1001, 'going away')).toBe('1001 Going Away "going away"');
    expect(formatCloseLine(1006)).toBe('1006 Abnormal Closure');
    expect(formatCloseLine(4001, 'expired')).toBe('4001 Private Use "expired"');
    // RFC 6455 §7.1.5: an empty close body means 1005.
    expect(formatCloseLine(null)).toBe('1005 No Status Received');
  });

  it('formats sizes and durations', () => {
    expect(formatSize(0)).toBe('0 B');
    expect(formatSize(1023)).toBe('1023 B');
    expect(formatSize(1536)).toBe('1.5 KiB');
    expect(formatSize(5 * 1024 * 1024)).toBe('5.0 MiB');
    expect(formatSize(300 * 1024 * 1024)).toBe('300 MiB');
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(12_340)).toBe('12.3 s');
    expect(formatDuration(303_000)).toBe('5m 03s');
    expect(formatDuration(7_500_000)).toBe('2h 05m');
  });

  it('shows FIN, RSV and MASK as five columns', () => {
    expect(formatFlags({ fin: true, rsv1: true, rsv2: false, rsv3: false, masked: true })).toBe('F1..M');
    expect(formatFlags({ fin: false, rsv1: false, rsv2: true, rsv3: true, masked: false })).toBe('..23.');
  });

  it('builds frame rows with arrow, opcode, flags, length and preview', () => {
    const ping = formatFrameRow(frame(1, 'client', 9, 'are you there'), 100);
    expect(ping).toContain('→ ping');
    expect(ping).toContain('F...M');
    expect(ping).toContain('13 B');
    expect(ping).toContain('are you there');
    const close = formatFrameRow(frame(1, 'server', 8, null, { payload: Buffer.from([0x03, 0xe9, 0x62, 0x79, 0x65]), length: 5 }), 100);
    expect(close).toContain('← close');
    expect(close).toContain('1001 Going Away "bye"');
    const whole = formatFrameRow(frame(1, 'client', 1, 'hi'), 100);
    expect(whole).toContain('(payload in message)');
    const bad = formatFrameRow(frame(1, 'server', 2, null, { payload: Buffer.from([0, 1, 0xff]), fin: false, length: 3 }), 100);
    expect(bad).toContain('00 01 ff');
  });

  it('builds message rows with previews on one line', () => {
    const row = formatMessageRow(text(1, 'server', 'line one\nline two', { frames: 3, compressed: true }), 120);
    expect(row).toContain('← text');
    expect(row).toContain('3fr z');
    expect(row).toContain('line one line two');
    expect(formatMessageRow(binary(1, 'client', Buffer.from([0xde, 0xad, 0xbe, 0xef])), 120)).toContain('de ad be ef');
    expect(formatMessageRow(text(1, 'client', 'x'.repeat(500)), 80).length).toBeLessThanOrEqual(80);
  });

  it('dumps hex with offsets and ASCII', () => {
    const lines = hexDump(Buffer.from('Hello, WebSocket!\x00\x01', 'latin1'));
    expect(lines).toEqual([
      '00000000  48 65 6c 6c 6f 2c 20 57  65 62 53 6f 63 6b 65 74  |Hello, WebSocket|',
      '00000010  21 00 01                                          |!..|',
    ]);
    expect(hexDump(Buffer.alloc(64), 2).at(-1)).toBe('… 32 more bytes');
  });

  it('detects JSON and printable text', () => {
    expect(prettyJson('{"a":1,"b":[2]}')).toBe('{\n  "a": 1,\n  "b": [\n    2\n  ]\n}');
    expect(prettyJson('hello')).toBeNull();
    expect(prettyJson('{not json')).toBeNull();
    expect(printableText(Buffer.from('tab\tok'))).toBe('tab\tok');
    expect(printableText(Buffer.from([0x68, 0x00]))).toBeNull();
    expect(printableText(Buffer.from([0xc3]))).toBeNull();
    expect(oneLine('a\u0001b', 10)).toBe('a.b');
  });
});
