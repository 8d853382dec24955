/** RFC 6455 §5.2 opcodes. */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

export const OPCODE_NAMES: Readonly<Record<number, string>> = {
  0x0: 'cont',
  0x1: 'text',
  0x2: 'binary',
  0x8: 'close',
  0x9: 'ping',
  0xa: 'pong',
};

export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

/** RFC 6455 §7.4.1 status codes (and the IANA registry's later additions). */
export const CloseCode = {
  NormalClosure: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  NoStatusReceived: 1005,
  AbnormalClosure: 1006,
  InvalidPayloadData: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
  TlsHandshake: 1015,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

const CLOSE_CODE_NAMES: Readonly<Record<number, string>> = {
  1000: 'Normal Closure',
  1001: 'Going Away',
  1002: 'Protocol Error',
  1003: 'Unsupported Data',
  1004: 'Reserved',
  1005: 'No Status Received',
  1006: 'Abnormal Closure',
  1007: 'Invalid Payload Data',
  1008: 'Policy Violation',
  1009: 'Message Too Big',
  1010: 'Mandatory Extension',
  1011: 'Internal Error',
  1012: 'Service Restart',
  1013: 'Try Again Later',
  1014: 'Bad Gateway',
  1015: 'TLS Handshake',
};

/** Human name of a close code: registry names, then the ranges of RFC 6455 §7.4.2. */
export function closeCodeName(code: number): string {
  const known = CLOSE_CODE_NAMES[code];
  if (known) return known;
  if (code >= 4000 && code <= 4999) return 'Private Use';
  if (code >= 3000 && code <= 3999) return 'Registered';
  return 'Unknown';
}

/** RFC 6455 §5.5: "All control frames MUST have a payload length of 125 bytes or less". */
export const MAX_CONTROL_PAYLOAD = 125;
/** Largest length a JS number holds exactly; above it the stream cannot be followed. */
export const MAX_SAFE_LENGTH = Number.MAX_SAFE_INTEGER;
/** Default bytes kept per frame and per message (`--max-payload`). */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** The violation rules of capture-format v1, with the close code a conforming peer would send. */
export const VIOLATION_CODES = {
  'rsv1-without-extension': 1002,
  'rsv1-on-continuation': 1002,
  'rsv1-on-control-frame': 1002,
  'rsv2-rsv3-set': 1002,
  'reserved-opcode': 1002,
  'control-frame-too-long': 1002,
  'fragmented-control-frame': 1002,
  'unexpected-continuation': 1002,
  'expected-continuation': 1002,
  'non-minimal-length': 1002,
  'length-msb-set': 1002,
  'masked-server-frame': 1002,
  'unmasked-client-frame': 1002,
  'invalid-close-body': 1002,
  'invalid-close-code': 1002,
  'invalid-close-reason': 1007,
  'invalid-utf8': 1007,
  'inflate-failed': 1007,
  'frame-after-close': 1002,
  'length-too-large': 1009,
  'extension-not-offered': 1002,
  'subprotocol-not-offered': 1002,
  'invalid-extension-params': 1002,
} as const;
export type ViolationRule = keyof typeof VIOLATION_CODES;
export const VIOLATION_RULES = Object.keys(VIOLATION_CODES) as readonly ViolationRule[];

/** RFC 6455 §1.3: the GUID appended to Sec-WebSocket-Key. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
