/** The dashboard's spill file: records round-trip, a torn tail is skipped, junk never crashes the reader. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeSpillRecord, encodeSpillRecord, readSpillRecords, SpillFile } from '../../src/capture/spill-file.js';
import type { SessionEvent } from '../../src/session/events.js';
import { binary, frame, T0, text } from '../ui/events.js';

const SIZES = [0, 1, 125, 126, 65_535, 65_536, 1024 * 1024 + 3];

function located(spill: SpillFile): { offset: number; length: number; event: SessionEvent }[] {
  const out: { offset: number; length: number; event: SessionEvent }[] = [];
  spill.onLine((event, offset, length) => out.push({ event, offset, length }));
  return out;
}

/** The event with each Buffer as its digest (a deep compare of megabytes byte by byte is slow). */
function digest(e: SessionEvent | null): unknown {
  return JSON.parse(JSON.stringify(e, function (this: Record<string, unknown>, key, value: unknown) {
    const raw = this[key];
    return Buffer.isBuffer(raw) ? `bytes:${raw.length}:${createHash('sha256').update(raw).digest('hex')}` : value;
  }));
}

async function all(file: string, start = 0): Promise<SessionEvent[]> {
  const out: SessionEvent[] = [];
  for await (const r of readSpillRecords(file, start)) out.push(r.value);
  return out;
}

describe('spill file', () => {
  let spill: SpillFile | null = null;
  let dir: string | null = null;
  afterEach(async () => {
    await spill?.close();
    spill = null;
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  it('round-trips frames and messages at every payload size, by random and by sequential read', async () => {
    spill = SpillFile.open();
    const where = located(spill);
    const events: SessionEvent[] = [];
    for (const size of SIZES) {
      const bytes = randomBytes(size);
      events.push(binary(1, 'server', bytes));
      events.push(frame(1, 'client', 2, null, { payload: bytes, length: size, maskKey: '01020304' }));
    }
    // A whole-message frame without its payload field, and events with no payload at all.
    events.push(frame(1, 'client', 1, null));
    events.push(text(1, 'client', 'héllo ✓'));
    events.push({ type: 'close', conn: 1, t: T0, from: 'client', code: 1000, reason: 'bye' } as SessionEvent);
    events.push({ type: 'intercept', conn: 1, t: T0, from: 'client', action: 'edit', by: 'user', message: { opcode: 2, length: 3, data: Buffer.from([0, 1, 255]), truncated: false } });
    for (const e of events) spill.write(e);
    const file = spill.path;
    // Written per turn of the event loop, off the caller's path.
    expect(where).toEqual([]);
    await new Promise<void>((resolve) => {
      const wait = (): void => void (where.length === events.length ? resolve() : setTimeout(wait, 5));
      wait();
    });
    expect(where.map((w) => w.event)).toEqual(events);
    for (const w of where) expect(digest(await spill.read(w.offset, w.length))).toEqual(digest(w.event));
    expect((await all(file)).map(digest)).toEqual(events.map(digest));
    // From any record's offset on.
    expect((await all(file, where[5]!.offset)).map(digest)).toEqual(events.slice(5).map(digest));
    // Bytes come back as Buffers.
    expect(Buffer.isBuffer((await spill.read(where[1]!.offset, where[1]!.length) as { payload: Buffer }).payload)).toBe(true);
    // A whole-message frame comes back without a payload field, as it went in.
    expect('payload' in (await spill.read(where[where.length - 4]!.offset, where[where.length - 4]!.length))!).toBe(false);
    // Mode 0600 in a private directory (0700).
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
  });

  it('a frame or message comes back exactly as it went in: every flag, optional field and the JSON fallback', () => {
    const events: SessionEvent[] = [];
    for (let bits = 0; bits < 256; bits++) {
      const bit = (n: number): boolean => (bits & (1 << n)) !== 0;
      const payload = randomBytes(bits % 7);
      events.push({
        ...frame(bits + 1, bit(0) ? 'server' : 'client', bits % 16, null),
        fin: bit(1),
        rsv1: bit(2),
        rsv2: bit(3),
        rsv3: bit(4),
        masked: bit(5),
        truncated: bit(6),
        t: T0 + bits / 1000 + 0.000123,
        length: bit(7) ? 2 ** 40 + bits : bits,
        ...(bit(5) ? { maskKey: (bits * 0x01020304).toString(16).padStart(8, '0').slice(-8) } : {}),
        ...(bit(7) || bits % 3 === 0 ? { payload } : {}),
        ...(bit(4) && bit(6) ? { incomplete: true as const, received: bits * 3 } : {}),
      } as SessionEvent);
      events.push({
        ...binary(bits + 1, bit(0) ? 'server' : 'client', payload),
        opcode: bit(1) ? 1 : 2,
        compressed: bit(2),
        frames: 1 + bits * 1000,
        length: 2 ** 33 + bits,
        t: T0 - bits * 0.5,
        ...(bit(3) ? { invalidUtf8: true as const } : {}),
        truncated: bit(4),
      } as SessionEvent);
    }
    // What the fixed layout cannot say goes as JSON, and still comes back whole.
    events.push(frame(2 ** 32 + 5, 'client', 2, null, { payload: Buffer.from([1, 2, 3]) }));
    events.push(frame(1, 'client', 2, null, { payload: Buffer.from([1]), maskKey: 'abc' }));
    events.push(binary(-1, 'server', Buffer.from('x')));
    for (const e of events) {
      const { head, payload } = encodeSpillRecord(e);
      expect(decodeSpillRecord(Buffer.concat([head, payload]))).toStrictEqual(e);
    }
    // A binary meta whose length is not its kind's is not one of ours.
    const { head, payload } = encodeSpillRecord(events[0]!);
    const wrong = Buffer.concat([head, Buffer.alloc(1), payload]);
    wrong.writeUInt32BE(head.length - 8 + 1, 0);
    expect(decodeSpillRecord(wrong)).toBeNull();
  });

  it('a queue far larger than one batch is written in order, each record readable where it was reported', async () => {
    spill = SpillFile.open();
    const where = located(spill);
    const events: SessionEvent[] = [];
    for (let i = 0; i < 3000; i++) events.push(i % 500 === 7 ? binary(1, 'client', randomBytes(200_000)) : binary(1 + (i % 3), i % 2 ? 'server' : 'client', randomBytes(4096 + (i % 5))));
    const pressure: boolean[] = [];
    spill.onPressure((high) => pressure.push(high));
    for (const e of events) spill.write(e);
    await new Promise<void>((resolve) => {
      const wait = (): void => void (where.length === events.length ? resolve() : setTimeout(wait, 5));
      wait();
    });
    expect(where.map((w) => w.event)).toEqual(events);
    // Contiguous: each record starts where the one before ended.
    for (let i = 1; i < where.length; i++) expect(where[i]!.offset).toBe(where[i - 1]!.offset + where[i - 1]!.length);
    for (const i of [0, 7, 8, 1500, 2507, 2999]) expect(digest(await spill.read(where[i]!.offset, where[i]!.length))).toEqual(digest(events[i]!));
    expect((await all(spill.path)).map(digest)).toEqual(events.map(digest));
    // Over the high-water mark while queued, then drained.
    expect(pressure).toEqual([true, false]);
  });

  it('close writes what is queued, then removes the file and its directory', async () => {
    spill = SpillFile.open();
    const where = located(spill);
    for (let i = 0; i < 3000; i++) spill.write(text(1, 'client', `m${i}`));
    const file = spill.path;
    await spill.close();
    expect(where.length).toBe(3000);
    expect(fs.existsSync(path.dirname(file))).toBe(false);
    expect(await spill.read(where[0]!.offset, where[0]!.length)).toBeNull();
    await spill.close();
  });

  it('a torn last record is skipped; a record cut wrong decodes as null', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-spill-test-'));
    const file = path.join(dir, 'torn.spill');
    const a = encodeSpillRecord(text(1, 'client', 'first'));
    const b = encodeSpillRecord(binary(1, 'server', randomBytes(5000)));
    const whole = Buffer.concat([a.head, a.payload, b.head, b.payload]);
    const aLength = a.head.length + a.payload.length;
    for (const cut of [aLength + 1, aLength + 8, aLength + b.head.length + 10, whole.length - 1]) {
      fs.writeFileSync(file, whole.subarray(0, cut));
      expect((await all(file)).map((e) => e.type)).toEqual(['message']);
    }
    expect(decodeSpillRecord(whole.subarray(0, aLength))).toMatchObject({ type: 'message' });
    expect(decodeSpillRecord(whole.subarray(0, aLength - 1))).toBeNull();
    expect(decodeSpillRecord(whole.subarray(1, aLength + 1))).toBeNull();
    expect(decodeSpillRecord(whole)).toBeNull();
  });

  it('random bytes never crash the reader, and a huge claimed length does not allocate it', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-spill-test-'));
    const file = path.join(dir, 'junk.spill');
    for (let i = 0; i < 300; i++) {
      const junk = randomBytes(1 + (i * 37) % 600);
      // Some cases look like a record head with a plausible meta length.
      if (i % 3 === 0 && junk.length >= 8) {
        junk.writeUInt32BE(junk.length - 8 - (i % 5), 0);
        junk.writeUInt32BE(i % 5, 4);
      }
      fs.writeFileSync(file, junk);
      await expect(all(file)).resolves.toBeInstanceOf(Array);
      expect(() => decodeSpillRecord(junk)).not.toThrow();
    }
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(0xffff_fff0, 0);
    huge.writeUInt32BE(0xffff_fff0, 4);
    fs.writeFileSync(file, huge);
    expect(await all(file)).toEqual([]);
    // JSON that is not an event.
    for (const meta of ['null', '[1]', '{"type":1}', '{"type":"frame"}', '"x"']) {
      const m = Buffer.from(meta);
      const rec = Buffer.concat([Buffer.alloc(8), m]);
      rec.writeUInt32BE(m.length, 0);
      expect(decodeSpillRecord(rec)).toBeNull();
    }
  });
});
