/** The handshake and close summary of a connection: raw headers in wire order, accept check, extensions. */
import { tcpEndSummary } from '../../src/session/event-data.js';
import { arrow, formatCloseLine, formatDuration, formatSize } from '../format.js';
import type { RawHeaders } from '../../src/session/events.js';
import type { ConnectionView } from '../store.js';
import { line, type Line } from './lines.js';

function headerLines(headers: RawHeaders): Line[] {
  return headers.map(([name, value]) => line(`  ${name}: ${value}`));
}

export function handshakeLines(c: ConnectionView): Line[] {
  const out: Line[] = [line(`connection #${c.id} from ${c.client || '?'} to ${c.target || '?'}`, 'heading')];
  const hs = c.handshake;
  if (!hs) {
    out.push(line('no handshake recorded', 'dim'));
  } else {
    out.push(line('request (as the client sent it):', 'heading'));
    out.push(line(`  ${hs.request.method} ${hs.request.target} HTTP/${hs.request.httpVersion}`));
    out.push(...headerLines(hs.request.headers));
    if (hs.forwarded) {
      out.push(line('forwarded upstream as:', 'heading'));
      out.push(...headerLines(hs.forwarded.headers));
    }
    if (hs.response) {
      out.push(line('response:', 'heading'));
      out.push(line(`  HTTP/${hs.response.httpVersion} ${hs.response.status} ${hs.response.reason}`));
      out.push(...headerLines(hs.response.headers));
    } else {
      out.push(line('the upstream never answered', 'violation'));
    }
    if (!hs.upgraded) out.push(line(`upgrade refused${hs.response ? `: ${hs.response.status} ${hs.response.reason}` : ''}`, 'violation'));
    else {
      // RFC 6455 §4.2.2: the accept value is base64(SHA-1(key + GUID)).
      out.push(line(`Sec-WebSocket-Accept: ${hs.accept === 'ok' ? 'ok (matches the key)' : hs.accept}`, hs.accept === 'ok' ? 'normal' : 'violation'));
      out.push(line(`subprotocol: ${hs.protocol ?? '(none)'}`));
      if (hs.extensions.length === 0) out.push(line('extensions: (none)'));
      for (const ext of hs.extensions) {
        const params = Object.entries(ext.params).map(([k, v]) => (v === true ? k : `${k}=${v}`));
        out.push(line(`extension: ${[ext.name, ...params].join('; ')}`));
      }
    }
  }
  if (!c.hasFrames && c.messages.client + c.messages.server > 0) {
    out.push(line('recorded without frames, closes or the end (a HAR records messages only)', 'dim'));
  }
  out.push(line('close / end:', 'heading'));
  if (c.closes.length === 0) out.push(line('  no close frame yet', 'dim'));
  for (const cl of c.closes) out.push(line(`  ${arrow(cl.from)} ${cl.from} sent close ${formatCloseLine(cl.code, cl.reason)}`, 'control'));
  const end = c.end;
  if (end) {
    const who = end.initiator ? `initiated by the ${end.initiator}` : 'no close frame was sent';
    out.push(line(`  ended: ${formatCloseLine(end.code, end.reason)}, ${who}, ${end.clean ? 'clean' : 'not clean'}${end.shutdown ? ' (frametap shut down)' : ''}`, end.clean ? 'normal' : 'violation'));
    const why = tcpEndSummary(end);
    if (why !== null && !end.shutdown) out.push(line(`  tcp: ${why}`, end.clean ? 'dim' : 'violation'));
    out.push(line(`  lasted ${formatDuration(end.durationMs)}; bytes → ${formatSize(end.bytes.client)} ← ${formatSize(end.bytes.server)}; frames → ${end.frames.client} ← ${end.frames.server}`));
  }
  for (const err of c.errors) out.push(line(`  error ${err.stage}${err.code ? ` ${err.code}` : ''}: ${err.detail}`, 'violation'));
  return out;
}
