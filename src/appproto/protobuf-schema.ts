/**
 * Protocol Buffers with a schema (`--proto FILE --proto-type NAME`), decoded by protobufjs.
 * Loading the .proto is protobuf-load.ts's job (a user mistake there is a UsageError); decoding a payload
 * never throws: protobufjs's own errors (a length past the end, a bad wire type) and a stack
 * overflow from a recursive type become "undecodable".
 */
import type protobuf from 'protobufjs';
import type { JsonValue } from '../replay/json-path.js';
import { jsonToTree } from './data-value.js';
import { jsonShape } from './json.js';
import { type DecodeLimits, DEFAULT_LIMITS } from './limits.js';
import { type DecodeResult, guard, stop } from './types.js';

export interface ProtoSchema {
  readonly typeName: string;
  readonly type: protobuf.Type;
}

export function decodeProtobufSchema(bytes: Uint8Array, schema: ProtoSchema, limits: DecodeLimits = DEFAULT_LIMITS): DecodeResult {
  return guard('protobuf', () => {
    if (bytes.length > limits.maxBytes) stop(`${bytes.length} bytes (limit ${limits.maxBytes})`);
    const message = schema.type.decode(bytes);
    const json = schema.type.toObject(message, { longs: String, enums: String, bytes: String, defaults: false }) as JsonValue;
    return {
      ok: true,
      view: 'protobuf',
      summary: `protobuf ${schema.typeName} ${jsonShape(json)}`,
      tree: jsonToTree(json, schema.typeName),
      fields: {},
      json,
    };
  });
}
