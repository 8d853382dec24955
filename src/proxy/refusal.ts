/**
 * Writing answers to a client whose upgrade did not complete. http-proxy 1.18.1 rebuilds a refused
 * upgrade's response with lower-cased headers and a de-chunked body under `transfer-encoding:
 * chunked`, and answers a failed one with nothing at all; frametap writes these itself.
 */
import type http from 'node:http';
import type net from 'node:net';

/**
 * Relays a non-101 answer to an upgrade request: status line, the upstream's raw header list
 * (order and case as received) and the body, re-chunked when it came chunked (Node's parser
 * hands over the de-chunked bytes; RFC 9112 §7.1). The client connection is ended afterwards:
 * it was reserved for a WebSocket.
 */
export function relayRefusal(res: http.IncomingMessage, client: net.Socket, onDone: () => void): void {
  let chunked = false;
  const lines = [`HTTP/${res.httpVersion} ${res.statusCode ?? 0} ${res.statusMessage ?? ''}`];
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
    const name = res.rawHeaders[i]!;
    const value = res.rawHeaders[i + 1]!;
    if (name.toLowerCase() === 'transfer-encoding' && /(^|,)\s*chunked\s*$/i.test(value)) chunked = true;
    lines.push(`${name}: ${value}`);
  }
  if (client.destroyed) {
    res.resume();
    onDone();
    return;
  }
  client.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  res.on('data', (chunk: Buffer) => {
    if (client.destroyed || chunk.length === 0) return;
    if (chunked) client.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    client.write(chunk);
    if (chunked) client.write('\r\n', 'latin1');
  });
  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    if (!client.destroyed) {
      if (chunked) {
        const trailers: string[] = [];
        for (let i = 0; i + 1 < res.rawTrailers.length; i += 2) trailers.push(`${res.rawTrailers[i]}: ${res.rawTrailers[i + 1]}\r\n`);
        client.end(`0\r\n${trailers.join('')}\r\n`, 'latin1');
      } else {
        client.end();
      }
      closeWhenFlushed(client);
    }
    onDone();
  };
  res.once('end', finish);
  const abort = (): void => {
    if (done) return;
    done = true;
    client.destroy();
    onDone();
  };
  res.once('error', abort);
  res.once('close', () => {
    if (!res.complete) abort();
  });
  // The client left mid-body: stop reading a refusal nobody will see.
  client.once('close', () => {
    if (done) return;
    done = true;
    res.destroy();
    onDone();
  });
}

/** The answer to an upgrade the upstream never answered (RFC 9110 §15.6.3). */
export function writeBadGateway(client: net.Socket, detail: string): void {
  writeStatus(client, 502, 'Bad Gateway', `frametap: ${detail}\n`);
}

/** A minimal complete response, then the connection is ended. */
export function writeStatus(client: net.Socket, status: number, reason: string, body: string): void {
  if (client.destroyed || !client.writable) return;
  const bytes = Buffer.from(body, 'utf8');
  client.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${bytes.length}\r\nConnection: close\r\n\r\n${body}`,
    'utf8',
  );
  closeWhenFlushed(client);
}

/**
 * After the final answer the connection is over (`Connection: close`), but a half-open client
 * would keep its side open forever: close it once our bytes are out.
 */
function closeWhenFlushed(client: net.Socket): void {
  if (client.writableFinished) client.destroy();
  else client.once('finish', () => client.destroy());
}
