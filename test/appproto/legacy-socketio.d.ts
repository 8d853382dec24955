/**
 * The parts used by the test vectors of socket.io 2.x's parsers (plain JavaScript, no types):
 * socket.io-parser 3 (Socket.IO protocol 4) and engine.io-parser 2 (Engine.IO protocol 3),
 * installed under npm aliases next to the current versions.
 */
declare module 'socket.io-parser-v3' {
  export interface Packet {
    readonly type: number;
    readonly nsp: string;
    readonly data?: unknown;
    readonly id?: number;
  }
  export const CONNECT: 0;
  export const DISCONNECT: 1;
  export const EVENT: 2;
  export const ACK: 3;
  export const ERROR: 4;
  export const BINARY_EVENT: 5;
  export const BINARY_ACK: 6;
  export class Encoder {
    encode(packet: Packet, callback: (encoded: Array<string | Buffer>) => void): void;
  }
}

declare module 'engine.io-parser-v2' {
  export interface Packet {
    readonly type: 'open' | 'close' | 'ping' | 'pong' | 'message' | 'upgrade' | 'noop';
    readonly data?: string | Buffer;
  }
  export function encodePacket(packet: Packet, supportsBinary: boolean, utf8encode: boolean, callback: (encoded: string | Buffer) => void): void;
}
