import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PcapngWriter } from '../../src/pcap/pcapng-writer.js';
import { CaptureParser } from '../../src/pcap/block-reader.js';
import { captureHeader } from '../../src/capture/header.js';
import type { SessionEvent } from '../../src/session/events.js';

describe('the pcapng writer under a slow output', () => {
  it('asks the relay to slow down past its high-water mark, once reported, and drops nothing', async () => {
    const held: (() => void)[] = [];
    let flowing = false;
    const parts: Buffer[] = [];
    const out = new Writable({
      write(chunk: Buffer, _enc, cb) {
        parts.push(Buffer.from(chunk));
        if (flowing) cb();
        else held.push(() => cb());
      },
    });
    const warnings: string[] = [];
    const writer = PcapngWriter.toStream(out, captureHeader('proxy', '127.0.0.1:1', 'ws://127.0.0.1:2'), {
      maxPayload: 1024,
      highWaterMark: 4 * 1024 * 1024,
      lowWaterMark: 1024 * 1024,
      warn: (line) => warnings.push(line),
    });
    const problems: SessionEvent[] = [];
    writer.onProblem((e) => problems.push(e));
    const pressure: boolean[] = [];
    let relieved!: () => void;
    const relievedP = new Promise<void>((r) => (relieved = r));
    writer.onPressure((high) => {
      pressure.push(high);
      if (!high) relieved();
    });
    writer.write({ type: 'open', conn: 1, t: 1, client: '127.0.0.1:5000', target: 'ws://127.0.0.1:2/' } as SessionEvent);
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    let chunks = 0;
    // The first write is taken at once and held by the stream; the rest wait in the writer.
    writer.write({ type: 'chunk', conn: 1, t: 2, leg: 'client', from: 'client', bytes: chunk });
    chunks++;
    await new Promise((r) => setImmediate(r));
    while (pressure.length === 0 && chunks < 200) {
      writer.write({ type: 'chunk', conn: 1, t: 2 + chunks, leg: 'client', from: 'client', bytes: chunk });
      chunks++;
    }
    expect(pressure).toEqual([true]);
    // Pressure comes only once the high-water mark (4 MiB here) is queued.
    expect(chunks).toBeGreaterThanOrEqual(16);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot keep up with the traffic: slowing the relay/);
    expect(problems).toMatchObject([{ type: 'error', stage: 'capture' }]);
    flowing = true;
    for (const cb of held.splice(0)) cb();
    await relievedP;
    expect(pressure).toEqual([true, false]);
    await writer.close();
    // Every chunk is in the file as packets: its bytes, all of them, in order.
    const parser = new CaptureParser();
    const records = parser.push(Buffer.concat(parts));
    expect(parser.problem).toBeNull();
    // The data segments: IPv4 + TCP headers (40 bytes) and the chunk's bytes (the SYNs carry 8 bytes of options, no data).
    const segments = records.flatMap((r) => (r.kind === 'packet' && r.data.length > 48 ? [r.data.subarray(40)] : []));
    expect(Buffer.concat(segments).equals(Buffer.concat(Array.from({ length: chunks }, () => chunk)))).toBe(true);
  });
});
