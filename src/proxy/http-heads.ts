/**
 * Where HTTP/1.1 message heads sit in bytes read off a socket, so frametap can relay and record
 * them exactly as they crossed the wire. Node's parser decides what the messages are; these only
 * find the byte ranges it has already accepted (Node 20 requires CRLF line endings, RFC 9112 §2.2).
 */

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

/**
 * End (exclusive) of the final response head in `bytes`, the upstream's stream from its first
 * byte: interim 1xx responses before it (RFC 9110 §15.2: 100, 102, 103…, not 101) are skipped, so
 * their heads are part of what precedes the final one. null: no complete final head yet.
 */
export function finalResponseHeadEnd(bytes: Buffer): number | null {
  let start = 0;
  for (;;) {
    const blank = bytes.indexOf(CRLFCRLF, start);
    if (blank < 0) return null;
    const end = blank + CRLFCRLF.length;
    // RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
    const status = /^HTTP\/\d\.\d (\d{3})/.exec(bytes.toString('latin1', start, Math.min(end, start + 16)));
    const code = status ? Number(status[1]) : NaN;
    if (!(code >= 100 && code < 200 && code !== 101)) return end;
    start = end;
  }
}

/**
 * Start of the request head that ends at `headEnd` in `window` (the last bytes read from a client
 * connection): the request line as Node parsed it, looked for after the previous message head on
 * the connection, so bytes of earlier keep-alive requests and the empty lines RFC 9112 §2.2 lets a
 * client send before a request line are left out. null: not found (the window lost the start).
 */
export function requestHeadStart(window: Buffer, headEnd: number, requestLine: string): number | null {
  // The head itself contains no empty line before its end: the previous one bounds the search.
  const previous = headEnd >= 4 ? window.lastIndexOf(CRLFCRLF, headEnd - 5) : -1;
  const from = previous < 0 ? 0 : previous + CRLFCRLF.length;
  const at = window.indexOf(Buffer.from(`${requestLine}\r\n`, 'latin1'), from);
  return at >= 0 && at < headEnd ? at : null;
}
