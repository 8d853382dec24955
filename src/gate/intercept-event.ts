/**
 * A gate's intercept as the capture-format `intercept` event the session publishes: `conn` and `t`
 * added, a message's bytes kept up to `--max-payload` like a `message` event's.
 */
import { Opcode } from '../protocol/constants.js';
import type { InterceptEvent } from '../session/events.js';
import { isValidUtf8 } from '../protocol/validation.js';
import type { GateIntercept } from './actions.js';

export function interceptEvent(conn: number, t: number, intercept: GateIntercept, maxPayload: number): InterceptEvent {
  const { message, ...rest } = intercept;
  if (message === undefined) return { type: 'intercept', conn, t, ...rest };
  const truncated = message.data.length > maxPayload;
  const data = truncated ? message.data.subarray(0, maxPayload) : message.data;
  // capture-format: text for a text message with valid UTF-8, else base64 (the writer decides from invalidUtf8).
  const invalid = message.opcode === Opcode.Text && !isValidUtf8(message.data);
  return {
    type: 'intercept',
    conn,
    t,
    ...rest,
    message: { opcode: message.opcode, length: message.data.length, data, truncated, ...(invalid ? { invalidUtf8: true as const } : {}) },
  };
}
