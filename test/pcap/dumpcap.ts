/**
 * Records real traffic on the loopback interface with Debian's dumpcap (from the tshark package)
 * for the foreign-capture tests and the fixtures: started, awaited until it says it is capturing,
 * and stopped (by its pid) once the file holds the packets the test waits for.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import net from 'node:net';
import { deferred, withTimeout } from '../helpers/deferred.js';
import { CaptureParser } from '../../src/pcap/block-reader.js';
import { tcpSegmentOf } from '../../src/pcap/link-layer.js';

export interface DumpcapOptions {
  readonly iface: 'lo' | 'any';
  /** Only this TCP port is recorded. */
  readonly port: number;
  readonly file: string;
  /** Classic pcap instead of pcapng. */
  readonly pcap?: boolean;
  /** `-y`: e.g. LINUX_SLL2 on `any`. */
  readonly linkType?: string;
  /** Where the port listens (default 127.0.0.1), for the readiness probes. */
  readonly host?: string;
}

/** One TCP connection to the port, closed at once: a probe dumpcap records when it really captures. */
function probe(host: string, port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port }, () => socket.end());
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.resume();
  });
}

/**
 * How many FIN or RST segments the file holds so far (a complete session has at least two):
 * `all`, or only those of connections that carried data (not the probes, whose FINs may still be
 * trickling into the file while the session runs).
 */
function endings(file: string, which: 'all' | 'data' = 'all'): number {
  if (!fs.existsSync(file)) return 0;
  const parser = new CaptureParser();
  const withData = new Set<string>();
  let n = 0;
  for (const r of parser.push(fs.readFileSync(file))) {
    if (r.kind !== 'packet') continue;
    const s = tcpSegmentOf(r.iface.linkType, r.data);
    if (!s) continue;
    const ends = [`${s.src}:${s.srcPort}`, `${s.dst}:${s.dstPort}`].sort().join('-');
    if (s.payload.length > 0) withData.add(ends);
    if ((s.fin || s.rst) && (which === 'all' || withData.has(ends))) n++;
  }
  return n;
}

/** Runs `body` while dumpcap records; returns once the file holds `endingsWanted` FIN/RST segments. */
export async function recordWithDumpcap(options: DumpcapOptions, body: () => Promise<void>, endingsWanted = 2): Promise<void> {
  const args = ['-i', options.iface, '-f', `tcp port ${options.port}`, '-w', options.file, ...(options.pcap ? ['-P'] : []), ...(options.linkType ? ['-y', options.linkType] : [])];
  const child = spawn('dumpcap', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ready = deferred<void>();
  const exited = deferred<number | null>();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (stderr.includes('Capturing on')) ready.resolve();
  });
  child.on('exit', (code) => {
    exited.resolve(code);
    ready.reject(new Error(`dumpcap exited (${code}): ${stderr.trim()}`));
  });
  try {
    await withTimeout(ready.promise, 'dumpcap to start', 10_000);
    // "Capturing on" can come before the kernel delivers anything (`-i any` above all): probe the
    // port until a probe shows up in the file.
    await withTimeout((async () => {
      while (endings(options.file) === 0) {
        await probe(options.host ?? '127.0.0.1', options.port);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })(), 'dumpcap to record a probe', 10_000);
    const before = endings(options.file, 'data');
    await body();
    // dumpcap writes what the kernel hands it a little later: wait until the session's end is in the file.
    await withTimeout((async () => {
      while (endings(options.file, 'data') < before + endingsWanted) await new Promise((resolve) => setTimeout(resolve, 50));
    })(), 'dumpcap to write the session', 10_000);
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    await withTimeout(exited.promise, 'dumpcap to stop', 10_000);
  }
}
