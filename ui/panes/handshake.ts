/** The handshake and close summary of a connection: raw headers in wire order, accept check, extensions. */
import { tcpEndSummary } from '../../src/session/event-data.js';
import { arrow, formatCloseLine, formatDuration, formatSize, printableText, shown } from '../format.js';
import type { RawHeaders } from '../../src/session/events.js';
import type { ConnectionView } from '../store.js';
import { line, type Line } from './lines.js';
import { payloadLines } from './frame-detail.js';

function headerLines(headers: RawHeaders): Line[] {
  return headers.map(([name, value]) => line(`  ${shown(name)}: ${shown(value)}`));
}

export function handshakeLines(c: ConnectionView, width = 80): Line[] {
  const out: Line[] = [line(`connection #${c.id} from ${c.client ? shown(c.client) : '(not recorded)'} to ${c.target ? shown(c.target) : '(not recorded)'}`, 'heading')];
  const hs = c.handshake;
  if (!hs) {
    out.push(line('no handshake recorded', 'dim'));
  } else {
    out.push(line('request (as the client sent it):', 'heading'));
    out.push(line(`  ${shown(hs.request.method)} ${shown(hs.request.target)} HTTP/${shown(hs.request.httpVersion)}`));
    out.push(...headerLines(hs.request.headers));
    if (hs.forwarded) {
      out.push(line('forwarded upstream as:', 'heading'));
      out.push(...headerLines(hs.forwarded.headers));
    }
    if (hs.response) {
      out.push(line('response:', 'heading'));
      out.push(line(`  HTTP/${shown(hs.response.httpVersion)} ${hs.response.status} ${shown(hs.response.reason)}`));
      out.push(...headerLines(hs.response.headers));
      const body = hs.response.body;
      if (body !== undefined) {
        // A refusal's body as it came (chunked framing included): text when it is UTF-8 without
        // controls, else hex, through the one payload renderer (frame-detail.ts → safe-text.ts).
        out.push(line(`body: ${formatSize(body.length)}${hs.response.bodyTruncated ? ' (cut at --max-payload)' : ''}`, 'heading'));
        out.push(...payloadLines(body, printableText(body), 'text', width));
      }
    } else {
      out.push(line('the upstream never answered', 'violation'));
    }
    if (!hs.upgraded) out.push(line(`upgrade refused${hs.response ? `: ${hs.response.status} ${shown(hs.response.reason)}` : ''}`, 'violation'));
    else {
      // RFC 6455 §4.2.2: the accept value is base64(SHA-1(key + GUID)).
      out.push(line(`Sec-WebSocket-Accept: ${hs.accept === 'ok' ? 'ok (matches the key)' : hs.accept}`, hs.accept === 'ok' ? 'normal' : 'violation'));
      out.push(line(`subprotocol: ${hs.protocol === null ? '(none)' : shown(hs.protocol)}`));
      if (hs.extensions.length === 0) out.push(line('extensions: (none)'));
      for (const ext of hs.extensions) {
        const params = Object.entries(ext.params).map(([k, v]) => (v === true ? k : `${k}=${v}`));
        out.push(line(`extension: ${shown([ext.name, ...params].join('; '))}`));
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
  for (const err of c.errors) out.push(line(`  error ${shown(err.stage)}${err.code ? ` ${shown(err.code)}` : ''}: ${shown(err.detail)}`, 'violation'));
  return out;
}
