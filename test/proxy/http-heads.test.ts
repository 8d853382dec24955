/** Finding HTTP heads in bytes read off a socket: vectors, every split, random input. */
import net from 'node:net';
import type http from 'node:http';
import { describe, expect, it } from 'vitest';
import { ClientHeadTap } from '../../src/proxy/client-head-tap.js';
import { finalResponseHeadEnd, requestHeadStart } from '../../src/proxy/http-heads.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Seeded PRNG (mulberry32) so a failure names its input. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('finalResponseHeadEnd', () => {
  it('ends after the first empty line of a final response (RFC 9112 §2.1)', () => {
    const head = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n';
    expect(finalResponseHeadEnd(b(head + '\x81\x00'))).toBe(head.length);
    const refusal = 'HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\n';
    expect(finalResponseHeadEnd(b(refusal + 'no'))).toBe(refusal.length);
    expect(finalResponseHeadEnd(b(head.slice(0, -1)))).toBeNull();
    expect(finalResponseHeadEnd(b(''))).toBeNull();
  });

  it('skips interim 1xx heads (RFC 9110 §15.2), but not 101', () => {
    const interim = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n';
    const final = 'HTTP/1.1 403 Forbidden\r\n\r\n';
    expect(finalResponseHeadEnd(b(interim + final + 'body'))).toBe(interim.length + final.length);
    expect(finalResponseHeadEnd(b(interim))).toBeNull();
    expect(finalResponseHeadEnd(b('HTTP/1.1 101 Switching Protocols\r\n\r\nHTTP/1.1 200 OK\r\n\r\n'))).toBe(36);
  });

  it('never throws on random bytes and stays within them', () => {
    const rand = prng(11);
    for (let i = 0; i < 2000; i++) {
      const bytes = Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => (rand() < 0.3 ? [13, 10, 0x31, 0x20][Math.floor(rand() * 4)]! : Math.floor(rand() * 256))));
      if (rand() < 0.5) bytes.write('HTTP/1.1 1', 0, 'latin1');
      const end = finalResponseHeadEnd(bytes);
      if (end !== null) expect(end).toBeLessThanOrEqual(bytes.length);
    }
  });
});

describe('requestHeadStart', () => {
  const head = 'GET /ws HTTP/1.1\r\nHost: x\r\n\r\n';
  it('finds the request line at the start, after a previous message and its body, and after empty lines', () => {
    expect(requestHeadStart(b(head), head.length, 'GET /ws HTTP/1.1')).toBe(0);
    const before = 'POST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc\r\n';
    expect(requestHeadStart(b(before + head + 'frames'), before.length + head.length, 'GET /ws HTTP/1.1')).toBe(before.length);
  });

  it('is not misled by the request line text inside a header value, and says null when the start is gone', () => {
    const tricky = 'GET /ws HTTP/1.1\r\nX-Echo: GET /ws HTTP/1.1\r\n\r\n';
    expect(requestHeadStart(b(tricky), tricky.length, 'GET /ws HTTP/1.1')).toBe(0);
    expect(requestHeadStart(b(head.slice(5)), head.length - 5, 'GET /ws HTTP/1.1')).toBeNull();
  });
});

describe('ClientHeadTap', () => {
  const request = 'GET /chat?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
  const frames = '\x81\x80abcd';
  const req = { method: 'GET', url: '/chat?x=1', httpVersion: '1.1' } as http.IncomingMessage;

  /** Feeds `stream` to a tap in the given pieces; Node's `head` is what follows the request head in the last piece. */
  function tapped(pieces: readonly string[], headEnd: number): Buffer | null {
    const socket = new net.Socket();
    const tap = new ClientHeadTap(socket, 16 * 1024);
    let fed = 0;
    for (const piece of pieces) {
      socket.emit('data', b(piece));
      fed += piece.length;
      if (fed >= headEnd) {
        const result = tap.take(req, b(pieces.join('').slice(headEnd, fed)));
        expect(socket.listenerCount('data')).toBe(0);
        return result;
      }
    }
    return null;
  }

  it('gives the head exactly at every split into two reads, and in one-byte reads', () => {
    const before = 'GET /page HTTP/1.1\r\nHost: a\r\n\r\n';
    const stream = before + request + frames;
    const headEnd = before.length + request.length;
    for (let cut = 1; cut < headEnd; cut++) {
      expect(tapped([stream.slice(0, cut), stream.slice(cut)], headEnd)?.toString('latin1'), `cut at ${cut}`).toBe(request);
    }
    expect(tapped([...stream.slice(0, headEnd)], headEnd)?.toString('latin1')).toBe(request);
  });

  it('keeps only the last bytes read however much came before (bounded), and still finds the head', () => {
    const socket = new net.Socket();
    const tap = new ClientHeadTap(socket, 1024);
    const body = 'x'.repeat(1000);
    socket.emit('data', b(`POST /up HTTP/1.1\r\nContent-Length: ${1000 * 1000}\r\n\r\n`));
    for (let i = 0; i < 1000; i++) socket.emit('data', b(body));
    expect(tap.kept).toBeLessThanOrEqual(2 * 1024 + 1000);
    socket.emit('data', b(request + frames));
    expect(tap.take(req, b(frames))?.toString('latin1')).toBe(request);
  });
});
