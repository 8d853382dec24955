/**
 * The app-protocol flags shared by `proxy`, `view` and `demo` (docs/app-protocols.md):
 * `--view NAME`, `--pair PATH`, `--pair-timeout SECONDS`, `--proto FILE --proto-type NAME`.
 */
import { UsageError } from '../errors.js';
import type { AppViewOptions } from '../appproto/connection-app.js';
import { parsePairPath } from '../appproto/json-path-get.js';
import { VIEW_NAMES, type ViewName } from '../appproto/types.js';
import { parseSeconds } from './args.js';

export const APP_FLAGS = {
  view: { type: 'string' },
  pair: { type: 'string' },
  'pair-timeout': { type: 'string' },
  proto: { type: 'string' },
  'proto-type': { type: 'string' },
} as const;

export const APP_FLAGS_HELP = `      --view NAME          decode payloads as NAME (default: from the subprotocol, the URL
                           (/socket.io/?EIO=4), else sniffed); NAME is one of
                           ${VIEW_NAMES.join(', ')}
      --pair PATH          pair requests and replies by this JSON path ($.id) instead of the
                           protocol's ids; replies show their latency
      --pair-timeout SECS  a request with no reply after this is unanswered (default 30)
      --proto FILE         a .proto schema for protobuf payloads (with --proto-type)
      --proto-type NAME    the message type of the payloads (package.Message)
`;

/** Other names people use for the views (the protocols' own spellings). */
const VIEW_ALIASES: Readonly<Record<string, ViewName>> = {
  'socket.io': 'socketio',
  'graphql-ws': 'graphql',
  'graphql-transport-ws': 'graphql',
  'json-rpc': 'jsonrpc',
  messagepack: 'msgpack',
  proto: 'protobuf',
};

export interface AppFlagValues {
  readonly view?: string;
  readonly pair?: string;
  readonly 'pair-timeout'?: string;
  readonly proto?: string;
  readonly 'proto-type'?: string;
}

/** The flags as decoding options; every mistake is a one-line UsageError. Loads the schema. */
export async function parseAppFlags(values: AppFlagValues): Promise<AppViewOptions> {
  let view: ViewName | undefined;
  if (values.view !== undefined) {
    const name = VIEW_ALIASES[values.view] ?? values.view;
    if (!(VIEW_NAMES as readonly string[]).includes(name)) {
      throw new UsageError(`bad --view '${values.view}': expected one of ${VIEW_NAMES.join(', ')}`);
    }
    view = name as ViewName;
  }
  const pairPath = values.pair !== undefined ? parsePairPath(values.pair) : undefined;
  const timeoutMs = values['pair-timeout'] !== undefined ? parseSeconds(values['pair-timeout'], '--pair-timeout') * 1000 : undefined;
  if ((values.proto === undefined) !== (values['proto-type'] === undefined)) {
    throw new UsageError(values.proto === undefined ? '--proto-type needs --proto FILE' : '--proto needs --proto-type NAME (the message type of the payloads)');
  }
  let schema;
  if (values.proto !== undefined) {
    // protobufjs is loaded only when a schema is given.
    const { loadProtoSchema } = await import('../appproto/protobuf-load.js');
    schema = loadProtoSchema(values.proto, values['proto-type']!);
  }
  return {
    ...(view ? { view } : {}),
    ...(pairPath ? { pairPath } : {}),
    ...(schema ? { schema } : {}),
    ...(timeoutMs !== undefined ? { pair: { timeoutMs } } : {}),
  };
}
