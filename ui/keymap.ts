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
  | 'show-http'
  | 'pause'
  | 'follow'
  | 'help'
  | 'quit'
  | 'close-overlay'
  | 'filter-direction'
  | 'filter-text'
  | 'filter-binary'
  | 'filter-control'
  | 'filter-ping'
  | 'filter-reset'
  | 'filter-fields'
  | 'held-list'
  | InterceptKeyAction;

/** Keys that act on live traffic (ui/intercept-keys.ts); only in the live dashboard. */
export type InterceptKeyAction = 'breakpoint' | 'forward' | 'forward-all' | 'edit' | 'drop' | 'inject' | 'kill' | 'ping' | 'cut' | 'intercept-off' | 'held-up' | 'held-down';

export const INTERCEPT_ACTIONS: ReadonlySet<Action> = new Set<InterceptKeyAction>(['breakpoint', 'forward', 'forward-all', 'edit', 'drop', 'inject', 'kill', 'ping', 'cut', 'intercept-off', 'held-up', 'held-down']);

/** The context a binding applies in: the dashboard, the filter menu, the help, the list of what is held. */
export type KeyMode = 'normal' | 'filter' | 'help' | 'held';

export interface KeyBinding {
  readonly mode: KeyMode;
  /** blessed key names (`up`, `S-g`, `C-c`, `pageup`, `/`); the help shows each (keyLabel). */
  readonly keys: readonly string[];
  readonly action: Action;
  readonly help: string;
  /** The word the status bar's key hints show for it (only the most used bindings have one). */
  readonly hint?: string;
}

export const KEYMAP: readonly KeyBinding[] = [
  { mode: 'normal', keys: ['up', 'k'], action: 'up', help: 'previous row / connection' },
  { mode: 'normal', keys: ['down', 'j'], action: 'down', help: 'next row / connection' },
  { mode: 'normal', keys: ['pageup'], action: 'page-up', help: 'one page up' },
  { mode: 'normal', keys: ['pagedown'], action: 'page-down', help: 'one page down' },
  { mode: 'normal', keys: ['g', 'home'], action: 'first', help: 'first row (read back from the capture); detail: top' },
  { mode: 'normal', keys: ['S-g', 'G', 'end'], action: 'last', help: 'last row, follow new rows; detail: bottom' },
  { mode: 'normal', keys: ['S-f', 'F'], action: 'follow', help: 'follow again: newest connection and row (any move stops it)', hint: 'follow' },
  { mode: 'normal', keys: ['tab'], action: 'next-pane', help: 'next pane: connections, log, detail' },
  { mode: 'normal', keys: ['enter'], action: 'detail', help: 'detail of the selected row' },
  { mode: 'normal', keys: ['/'], action: 'search', help: 'search text payloads (regex)', hint: 'search' },
  { mode: 'normal', keys: ['n'], action: 'search-next', help: 'next search match' },
  { mode: 'normal', keys: ['S-n', 'N'], action: 'search-prev', help: 'previous search match' },
  { mode: 'normal', keys: ['f'], action: 'filter', help: 'filter: direction, kinds, ping/pong, decoded fields', hint: 'filter' },
  { mode: 'normal', keys: ['m'], action: 'mode', help: 'toggle frames / messages', hint: 'frames/msgs' },
  { mode: 'normal', keys: ['x'], action: 'payload-view', help: 'payload as text / JSON / hex', hint: 'text/json/hex' },
  { mode: 'normal', keys: ['o'], action: 'fold-tree', help: 'decoded tree: fold to 1, 2, 3 levels / unfold' },
  { mode: 'normal', keys: ['h'], action: 'handshake', help: 'handshake and close summary', hint: 'handshake' },
  { mode: 'normal', keys: ['r'], action: 'show-http', help: 'plain HTTP requests: list / hide (hidden by default)' },
  { mode: 'normal', keys: ['p'], action: 'pause', help: 'freeze the view (traffic goes on)', hint: 'freeze' },
  { mode: 'normal', keys: ['?'], action: 'help', help: 'this help', hint: 'help' },
  { mode: 'normal', keys: ['escape'], action: 'close-overlay', help: 'close help / filter' },
  { mode: 'normal', keys: ['b'], action: 'breakpoint', help: 'live: set a breakpoint (matching messages are held)' },
  { mode: 'normal', keys: ['a'], action: 'forward', help: 'live: forward the held message' },
  { mode: 'normal', keys: ['S-a', 'A'], action: 'forward-all', help: 'live: forward everything held' },
  { mode: 'normal', keys: ['e'], action: 'edit', help: 'live: edit the held message in $EDITOR, then send it' },
  { mode: 'normal', keys: ['d'], action: 'drop', help: 'live: drop the held message (asks first)' },
  { mode: 'normal', keys: ['i'], action: 'inject', help: 'live: inject a message toward the client or the server' },
  { mode: 'normal', keys: ['S-k', 'K'], action: 'kill', help: 'live: close the connection with a code and reason (asks first)' },
  { mode: 'normal', keys: ['S-p', 'P'], action: 'ping', help: 'live: ping the client or the server' },
  { mode: 'normal', keys: ['S-x', 'X'], action: 'cut', help: 'live: cut the TCP connection, a 1006 end (asks first)' },
  { mode: 'normal', keys: ['S-i', 'I'], action: 'intercept-off', help: 'live: interception off (everything held goes on) / on' },
  { mode: 'normal', keys: ['S-h', 'H'], action: 'held-list', help: 'live: list what is held (pick one for a, e, d)' },
  { mode: 'normal', keys: ['q', 'C-c'], action: 'quit', help: 'quit (the capture is flushed)', hint: 'quit' },
  { mode: 'filter', keys: ['d'], action: 'filter-direction', help: 'direction: both / client / server' },
  { mode: 'filter', keys: ['t'], action: 'filter-text', help: 'show text frames/messages on/off' },
  { mode: 'filter', keys: ['b'], action: 'filter-binary', help: 'show binary on/off' },
  { mode: 'filter', keys: ['c'], action: 'filter-control', help: 'show control frames on/off' },
  { mode: 'filter', keys: ['p'], action: 'filter-ping', help: 'hide ping/pong on/off' },
  { mode: 'filter', keys: ['e'], action: 'filter-fields', help: 'decoded fields: name:glob terms (event:chat)' },
  { mode: 'filter', keys: ['r'], action: 'filter-reset', help: 'show everything' },
  { mode: 'filter', keys: ['escape', 'enter', 'f'], action: 'close-overlay', help: 'close the filter menu' },
  { mode: 'filter', keys: ['q', 'C-c'], action: 'quit', help: 'quit' },
  { mode: 'held', keys: ['up', 'k'], action: 'held-up', help: 'pick the previous held message' },
  { mode: 'held', keys: ['down', 'j'], action: 'held-down', help: 'pick the next held message' },
  { mode: 'held', keys: ['a'], action: 'forward', help: 'forward the picked message (or upgrade request, or 101)' },
  { mode: 'held', keys: ['S-a', 'A'], action: 'forward-all', help: 'forward everything held' },
  { mode: 'held', keys: ['e'], action: 'edit', help: 'edit the picked message in $EDITOR, then send it' },
  { mode: 'held', keys: ['d'], action: 'drop', help: 'drop the picked message / refuse the picked upgrade (asks first)' },
  { mode: 'held', keys: ['escape', 'S-h', 'H'], action: 'close-overlay', help: 'close the list' },
  { mode: 'held', keys: ['q', 'C-c'], action: 'quit', help: 'quit' },
  { mode: 'help', keys: ['up', 'k'], action: 'up', help: 'scroll up' },
  { mode: 'help', keys: ['down', 'j'], action: 'down', help: 'scroll down' },
  { mode: 'help', keys: ['pageup'], action: 'page-up', help: 'one page up' },
  { mode: 'help', keys: ['pagedown'], action: 'page-down', help: 'one page down' },
  { mode: 'help', keys: ['g', 'home'], action: 'first', help: 'top' },
  { mode: 'help', keys: ['S-g', 'G', 'end'], action: 'last', help: 'bottom' },
  { mode: 'help', keys: ['?', 'escape'], action: 'close-overlay', help: 'close the help' },
  { mode: 'help', keys: ['q', 'C-c'], action: 'quit', help: 'quit' },
];

const byKey = new Map<string, Action>();
for (const b of KEYMAP) for (const k of b.keys) byKey.set(`${b.mode}:${k}`, b.action);

/** The action bound to a blessed key name in a mode, if any. */
export function actionFor(mode: KeyMode, key: string): Action | undefined {
  return byKey.get(`${mode}:${key}`);
}

const KEY_NAMES: Readonly<Record<string, string>> = {
  up: '↑',
  down: '↓',
  left: '←',
  right: '→',
  pageup: 'PgUp',
  pagedown: 'PgDn',
  home: 'Home',
  end: 'End',
  tab: 'Tab',
  enter: 'Enter',
  escape: 'Esc',
};

/** How the help shows a binding's keys: every key, `S-g` and `G` once (blessed reports either). */
export function keyLabel(keys: readonly string[]): string {
  const shown: string[] = [];
  for (const k of keys) {
    const name = KEY_NAMES[k] ?? (/^S-[a-z]$/.test(k) ? k.slice(2).toUpperCase() : /^C-[a-z]$/.test(k) ? `Ctrl-${k.slice(2).toUpperCase()}` : k);
    if (!shown.includes(name)) shown.push(name);
  }
  return shown.join(' ');
}

/** The `?` help, one line per binding, generated from KEYMAP. */
export function helpLines(mode: KeyMode = 'normal'): string[] {
  const rows = KEYMAP.filter((b) => b.mode === mode);
  const w = Math.max(...rows.map((b) => keyLabel(b.keys).length));
  return rows.map((b) => `${keyLabel(b.keys).padEnd(w)}  ${b.help}`);
}

/** The short key hints of the status bar, from the bindings that have a hint: `? help  / search  …`. */
export const KEY_HINTS = ((): string => {
  const hinted = KEYMAP.filter((b) => b.mode === 'normal' && b.hint !== undefined);
  // Help first, quit last; the rest in table order.
  const order = [...hinted.filter((b) => b.action === 'help'), ...hinted.filter((b) => b.action !== 'help' && b.action !== 'quit'), ...hinted.filter((b) => b.action === 'quit')];
  return order.map((b) => `${keyLabel(b.keys).split(' ')[0]} ${b.hint}`).join('  ');
})();
