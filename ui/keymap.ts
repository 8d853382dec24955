/**
 * The one key table of the dashboard: the dispatcher looks keys up here and the `?` help is generated
 * from it (as mitmproxy's defaultkeys.py does), so the help can never disagree with the keys.
 */

export type Action =
  | 'up'
  | 'down'
  | 'page-up'
  | 'page-down'
  | 'first'
  | 'last'
  | 'next-pane'
  | 'detail'
  | 'search'
  | 'search-next'
  | 'search-prev'
  | 'filter'
  | 'mode'
  | 'payload-view'
  | 'fold-tree'
  | 'handshake'
  | 'pause'
  | 'help'
  | 'quit'
  | 'close-overlay'
  | 'filter-direction'
  | 'filter-text'
  | 'filter-binary'
  | 'filter-control'
  | 'filter-ping'
  | 'filter-reset'
  | InterceptKeyAction;

/** Keys that act on live traffic (ui/intercept-keys.ts); only in the live dashboard. */
export type InterceptKeyAction = 'breakpoint' | 'forward' | 'forward-all' | 'edit' | 'drop' | 'inject' | 'kill' | 'ping' | 'cut' | 'intercept-off';

export const INTERCEPT_ACTIONS: ReadonlySet<Action> = new Set<InterceptKeyAction>(['breakpoint', 'forward', 'forward-all', 'edit', 'drop', 'inject', 'kill', 'ping', 'cut', 'intercept-off']);

export type KeyMode = 'normal' | 'filter';

export interface KeyBinding {
  readonly mode: KeyMode;
  /** blessed key names (`up`, `S-g`, `C-c`, `pageup`, `/`). */
  readonly keys: readonly string[];
  /** How the help shows the keys. */
  readonly label: string;
  readonly action: Action;
  readonly help: string;
}

export const KEYMAP: readonly KeyBinding[] = [
  { mode: 'normal', keys: ['up', 'k'], label: '↑ k', action: 'up', help: 'previous row / connection' },
  { mode: 'normal', keys: ['down', 'j'], label: '↓ j', action: 'down', help: 'next row / connection' },
  { mode: 'normal', keys: ['pageup'], label: 'PgUp', action: 'page-up', help: 'one page up' },
  { mode: 'normal', keys: ['pagedown'], label: 'PgDn', action: 'page-down', help: 'one page down' },
  { mode: 'normal', keys: ['g', 'home'], label: 'g', action: 'first', help: 'first row (read back from the capture)' },
  { mode: 'normal', keys: ['S-g', 'G', 'end'], label: 'G', action: 'last', help: 'last row, follow new rows' },
  { mode: 'normal', keys: ['tab'], label: 'Tab', action: 'next-pane', help: 'next pane: connections, log, detail' },
  { mode: 'normal', keys: ['enter'], label: 'Enter', action: 'detail', help: 'detail of the selected row' },
  { mode: 'normal', keys: ['/'], label: '/', action: 'search', help: 'search text payloads (regex)' },
  { mode: 'normal', keys: ['n'], label: 'n', action: 'search-next', help: 'next search match' },
  { mode: 'normal', keys: ['S-n', 'N'], label: 'N', action: 'search-prev', help: 'previous search match' },
  { mode: 'normal', keys: ['f'], label: 'f', action: 'filter', help: 'filter: direction, text/binary/control, ping/pong' },
  { mode: 'normal', keys: ['m'], label: 'm', action: 'mode', help: 'toggle frames / messages' },
  { mode: 'normal', keys: ['x'], label: 'x', action: 'payload-view', help: 'payload as text / JSON / hex' },
  { mode: 'normal', keys: ['o'], label: 'o', action: 'fold-tree', help: 'decoded tree: fold to 1, 2, 3 levels / unfold' },
  { mode: 'normal', keys: ['h'], label: 'h', action: 'handshake', help: 'handshake and close summary' },
  { mode: 'normal', keys: ['p'], label: 'p', action: 'pause', help: 'pause the view (traffic goes on)' },
  { mode: 'normal', keys: ['?'], label: '?', action: 'help', help: 'this help' },
  { mode: 'normal', keys: ['escape'], label: 'Esc', action: 'close-overlay', help: 'close help / filter' },
  { mode: 'normal', keys: ['b'], label: 'b', action: 'breakpoint', help: 'live: set a breakpoint (matching messages are held)' },
  { mode: 'normal', keys: ['a'], label: 'a', action: 'forward', help: 'live: forward the held message' },
  { mode: 'normal', keys: ['S-a', 'A'], label: 'A', action: 'forward-all', help: 'live: forward everything held' },
  { mode: 'normal', keys: ['e'], label: 'e', action: 'edit', help: 'live: edit the held message in $EDITOR, then send it' },
  { mode: 'normal', keys: ['d'], label: 'd', action: 'drop', help: 'live: drop the held message (asks first)' },
  { mode: 'normal', keys: ['i'], label: 'i', action: 'inject', help: 'live: inject a message toward the client or the server' },
  { mode: 'normal', keys: ['S-k', 'K'], label: 'K', action: 'kill', help: 'live: close the connection with a code and reason (asks first)' },
  { mode: 'normal', keys: ['S-p', 'P'], label: 'P', action: 'ping', help: 'live: ping the client or the server' },
  { mode: 'normal', keys: ['S-x', 'X'], label: 'X', action: 'cut', help: 'live: cut the TCP connection, a 1006 end (asks first)' },
  { mode: 'normal', keys: ['S-i', 'I'], label: 'I', action: 'intercept-off', help: 'live: interception off (everything held goes on) / on' },
  { mode: 'normal', keys: ['q', 'C-c'], label: 'q Ctrl-C', action: 'quit', help: 'quit (the capture is flushed)' },
  { mode: 'filter', keys: ['d'], label: 'd', action: 'filter-direction', help: 'direction: both / client / server' },
  { mode: 'filter', keys: ['t'], label: 't', action: 'filter-text', help: 'show text frames/messages on/off' },
  { mode: 'filter', keys: ['b'], label: 'b', action: 'filter-binary', help: 'show binary on/off' },
  { mode: 'filter', keys: ['c'], label: 'c', action: 'filter-control', help: 'show control frames on/off' },
  { mode: 'filter', keys: ['p'], label: 'p', action: 'filter-ping', help: 'hide ping/pong on/off' },
  { mode: 'filter', keys: ['r'], label: 'r', action: 'filter-reset', help: 'show everything' },
  { mode: 'filter', keys: ['escape', 'enter', 'f'], label: 'Esc Enter f', action: 'close-overlay', help: 'close the filter menu' },
  { mode: 'filter', keys: ['q', 'C-c'], label: 'q Ctrl-C', action: 'quit', help: 'quit' },
];

const byKey = new Map<string, Action>();
for (const b of KEYMAP) for (const k of b.keys) byKey.set(`${b.mode}:${k}`, b.action);

/** The action bound to a blessed key name in a mode, if any. */
export function actionFor(mode: KeyMode, key: string): Action | undefined {
  return byKey.get(`${mode}:${key}`);
}

/** The `?` help, one line per binding, generated from KEYMAP. */
export function helpLines(mode: KeyMode = 'normal'): string[] {
  const rows = KEYMAP.filter((b) => b.mode === mode);
  const w = Math.max(...rows.map((b) => b.label.length));
  return rows.map((b) => `${b.label.padEnd(w)}  ${b.help}`);
}

/** The short key hints of the status bar. */
export const KEY_HINTS = '? help  / search  f filter  m frames/msgs  x text/json/hex  h handshake  p pause  q quit';
