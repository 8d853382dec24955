/**
 * Protocol Buffers with a schema (`--proto FILE --proto-type NAME`), decoded by protobufjs.
 * Loading the .proto is the CLI's job (a user mistake there is a UsageError); decoding a payload
 * never throws: protobufjs's own errors (a length past the end, a bad wire type) and a stack
 * overflow from a recursive type become "undecodable".
 */
import protobuf from 'protobufjs';
import { UsageError } from '../errors.js';
import type { JsonValue } from '../replay/json-path.js';
import { jsonToTree } from './data-value.js';
import { jsonShape } from './json.js';
import { type DecodeLimits, DEFAULT_LIMITS } from './limits.js';
import { type DecodeResult, guard, stop } from './types.js';

export interface ProtoSchema {
  readonly typeName: string;
  readonly type: protobuf.Type;
}

/** Loads FILE and finds NAME in it; both mistakes are UsageErrors with the file and name. */
export function loadProtoSchema(file: string, typeName: string): ProtoSchema {
  let root: protobuf.Root;
  try {
    root = protobuf.loadSync(file);
  } catch (error) {
    throw new UsageError(`--proto '${file}': ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    return { typeName, type: root.lookupType(typeName) };
  } catch {
    throw new UsageError(`--proto-type '${typeName}': no message type of that name in '${file}'`);
  }
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
