/** Detail of the selected row: header bits, payload as text / pretty JSON / hex, fragments, violation. */
import { messageText } from '../../src/session/event-data.js';
import { closeCodeName, isControlOpcode } from '../../src/protocol/constants.js';
import type { FrameEvent, SessionEvent } from '../../src/session/events.js';
import { arrow, bytesOf, hexBytesPerLine, printableText, formatClock, formatCloseLine, formatSize, hexDump, opcodeName, prettyJson, shown, shownMultiline } from '../format.js';
import type { Row, RowLog, DashboardStore } from '../store.js';
import type { PayloadView } from '../view.js';
import { line, wrap, type Line } from './lines.js';
import { appOf, appTreeLines } from '../app-view.js';

const MAX_PAYLOAD_LINES = 400;

export interface DetailContext {
  readonly store: DashboardStore;
  /** The selected row's log and the connection's frames log (for a message's fragments). */
  readonly log: RowLog;
  readonly framesLog: RowLog;
  readonly payloadView: PayloadView;
  /** Levels of the decoded tree shown (o folds); all by default. */
  readonly treeDepth?: number;
}

export function detailLines(row: Row, ctx: DetailContext, width: number): Line[] {
  const full = ctx.store.fullEvent(ctx.log, row);
  const e = full ?? row.event;
  const out: Line[] = [];
  const loading = full === null ? ' (reading the whole payload back from the capture…)' : '';
  switch (e.type) {
    case 'frame':
      out.push(line(`frame ${row.index + 1} ${arrow(e.from)} from ${e.from} at ${formatClock(e.t)}${loading}`, 'heading'));
      out.push(line(frameBits(e)));
      out.push(line(`length ${e.length} (${formatSize(e.length)})${e.truncated ? `, kept ${bytesOf(e.payload).length} bytes (truncated)` : ''}`));
      if (e.incomplete) out.push(line(`incomplete: the connection ended after ${e.received ?? 0} of ${e.length} payload bytes`, 'violation'));
      if (e.opcode === 8) {
        const b = bytesOf(e.payload);
        out.push(line(b.length >= 2 ? `close ${formatCloseLine(b.readUInt16BE(0), b.subarray(2).toString('utf8'))}` : b.length === 0 ? 'close with an empty body (1005 No Status Received)' : 'close body of 1 byte (invalid)', 'control'));
      }
      if (e.payload === undefined && (e.opcode === 1 || e.opcode === 2)) {
        const m = row.message;
        out.push(line('a whole message by itself (the capture keeps its payload on the message)', 'dim'));
        if (m) {
          out.push(...payloadLines(m.data, messageText(m), ctx.payloadView, width));
        }
      } else if (e.rsv1) {
        out.push(line('compressed (permessage-deflate, RFC 7692): the message row (m) shows it inflated', 'dim'));
        out.push(...payloadLines(bytesOf(e.payload), null, 'hex', width));
      } else {
        const bytes = bytesOf(e.payload);
        const text = e.opcode === 2 ? null : printableText(bytes, e.opcode !== 1);
        out.push(...payloadLines(bytes, text, ctx.payloadView, width));
      }
      break;
    case 'message': {
      const kind = e.opcode === 1 ? 'text' : 'binary';
      out.push(line(`message ${row.index + 1} ${arrow(e.from)} ${kind} from ${e.from} at ${formatClock(e.t)}${loading}`, 'heading'));
      const wire = row.wireLength ?? null;
      const sizes = e.compressed
        ? `compressed ${wire === null ? '?' : formatSize(wire)} on the wire → inflated ${formatSize(e.length)}`
        : `length ${formatSize(e.length)}`;
      out.push(line(`${sizes}, ${e.frames} frame${e.frames === 1 ? '' : 's'}${e.truncated ? ', truncated' : ''}`));
      if (row.frames && e.frames > 1) out.push(...fragmentLines(ctx.framesLog, row, e.from));
      out.push(...appTreeLines(appOf(row), ctx.treeDepth));
      out.push(...payloadLines(e.data, messageText(e), ctx.payloadView, width));
      break;
    }
    default:
      out.push(...eventLines(e, width));
  }
  return out;
}

function frameBits(e: FrameEvent): string {
  const ctl = isControlOpcode(e.opcode) ? ' (control)' : '';
  return `FIN ${+e.fin}  RSV1 ${+e.rsv1}  RSV2 ${+e.rsv2}  RSV3 ${+e.rsv3}  opcode 0x${e.opcode.toString(16)} ${opcodeName(e.opcode)}${ctl}  MASK ${+e.masked}`;
}

function eventLines(e: SessionEvent, width: number): Line[] {
  switch (e.type) {
    case 'close':
      return [line(`close from ${e.from} at ${formatClock(e.t)}`, 'heading'), line(formatCloseLine(e.code, e.reason), 'control')];
    case 'violation':
      return [
        line(`protocol violation by the ${e.from} at ${formatClock(e.t)}`, 'violation'),
        line(`rule   ${shown(e.rule)}`),
        line(`code   ${e.code} ${closeCodeName(e.code)} (what a conforming peer answers)`),
        ...(e.offset !== undefined ? [line(`offset ${e.offset} in the ${e.from}'s stream`)] : []),
        ...wrap(shown(e.detail), width).map((t) => line(t)),
      ];
    case 'error':
      return [
        line(`error at stage ${shown(e.stage)}${e.code ? ` (${shown(e.code)})` : ''} at ${formatClock(e.t)}`, 'violation'),
        ...wrap(shown(e.detail), width).map((t) => line(t)),
      ];
    case 'intercept':
      return [
        line(`frametap changed the ${e.from}'s traffic at ${formatClock(e.t)}: ${e.action}`, 'intercept'),
        line(`by     ${e.by}${e.name ? ` (${e.name})` : ''}`),
        ...(e.ref ? [line(`acts on the ${e.ref.from}'s message ${e.ref.index}`)] : []),
        ...(e.detail ? wrap(e.detail, 200).map((t) => line(t)) : []),
        ...(e.message
          ? [
              line(`sent   ${e.message.opcode === 1 ? 'text' : 'binary'}, ${e.message.length} bytes${e.message.truncated ? ' (kept: the first bytes)' : ''}`),
              ...wrap(e.message.opcode === 1 && !e.message.invalidUtf8 ? e.message.data.toString('utf8') : e.message.data.toString('hex'), 200).map((t) => line(t)),
            ]
          : []),
      ];
    default:
      return [line(e.type)];
  }
}


/** The payload in the chosen view; JSON falls back to text, text to hex for binary data. */
export function payloadLines(bytes: Uint8Array, text: string | null, view: PayloadView, width: number): Line[] {
  // At most MAX_PAYLOAD_LINES lines of `width` columns are shown: render no more text than that.
  const cap = MAX_PAYLOAD_LINES * Math.max(8, width) + 1;
  if (text !== null && text.length > cap && view !== 'json') {
    // Not between the two halves of a surrogate pair.
    const end = /[\ud800-\udbff]/.test(text[cap - 1]!) ? cap - 1 : cap;
    text = text.slice(0, end);
  }
  if (bytes.length === 0) return [line('(empty payload)', 'dim')];
  if (view === 'json' && text !== null) {
    const pretty = prettyJson(text);
    if (pretty !== null) return [line('payload (JSON):', 'dim'), ...wrap(shownMultiline(pretty), width, MAX_PAYLOAD_LINES).map((t) => line(t))];
    return [line('payload (not JSON, as text):', 'dim'), ...wrap(shownMultiline(text), width, MAX_PAYLOAD_LINES).map((t) => line(t))];
  }
  if (view === 'hex' || text === null) {
    return [line(`payload (hex, ${bytes.length} bytes):`, 'dim'), ...hexDump(bytes, MAX_PAYLOAD_LINES, hexBytesPerLine(width)).map((t) => line(t))];
  }
  return [line('payload (text):', 'dim'), ...wrap(shownMultiline(text), width, MAX_PAYLOAD_LINES).map((t) => line(t))];
}

function fragmentLines(frames: RowLog, row: Row, from: string): Line[] {
  const out: Line[] = [line(`fragments: frames ${row.frames![0] + 1}–${row.frames![1] + 1}`, 'dim')];
  for (let i = row.frames![0]; i <= row.frames![1] && out.length < 20; i++) {
    const f = frames.get(i);
    if (!f || f.event.type !== 'frame' || f.event.from !== from || isControlOpcode(f.event.opcode)) continue;
    out.push(line(`  frame ${i + 1}: ${opcodeName(f.event.opcode)} FIN ${+f.event.fin} RSV1 ${+f.event.rsv1} ${formatSize(f.event.length)}`));
  }
  return out;
}
