/**
 * Loads `--proto FILE` and finds `--proto-type NAME` in it (protobufjs, loaded only then).
 */
import protobuf from 'protobufjs';
import { UsageError } from '../errors.js';
import type { ProtoSchema } from './protobuf-schema.js';

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

