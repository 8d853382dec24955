/**
 * What each action of the keymap does, as one table keyed by action (mitmproxy's console keeps its
 * commands apart from the keymap that binds them in each context the same way): the dashboard
 * looks the key up in ui/keymap.ts for the current context, then runs the command here. Pure over
 * the view model and a small host interface, so commands are tested without a screen.
 */
import { INTERCEPT_ACTIONS, type Action, type InterceptKeyAction, type KeyMode } from './keymap.js';
import { DEFAULT_FILTER } from './store.js';
import type { DashboardView } from './view.js';

/** What a command may ask of the dashboard besides the view model. */
export interface CommandHost {
  readonly view: DashboardView;
  /** The detail pane widened to the full width. */
  zoom: boolean;
  /** Opens the search prompt. */
  startSearch(): void;
  /** Opens the decoded-field filter prompt (`event:chat topic:sensors/*`). */
  startFieldFilter(): void;
  /** n / N: the last pattern again, forwards or backwards. */
  searchAgain(direction: 1 | -1): void;
  /** q: stop the proxy, flush, exit (once). */
  quit(): void;
  /** Redraw soon (after the view unfroze). */
  wake(): void;
}

/** The key context the dashboard is in: the overlay shown decides which bindings apply. */
export function keyContext(view: DashboardView): KeyMode {
  return view.overlay ?? 'normal';
}

type Command = (host: CommandHost) => void;

/** Commands of the view; the keys that act on live traffic are the dashboard's own (intercept-keys.ts). */
export const COMMANDS: Readonly<Record<Exclude<Action, InterceptKeyAction>, Command>> = {
  up: ({ view }) => view.move(-1),
  down: ({ view }) => view.move(1),
  'page-up': ({ view }) => view.page(-1),
  'page-down': ({ view }) => view.page(1),
  first: ({ view }) => view.home(),
  last: ({ view }) => view.end(),
  'next-pane': (host) => {
    host.view.nextPane();
    if (host.view.focus !== 'detail') host.zoom = false;
  },
  follow: ({ view }) => view.resumeFollow(),
  detail: (host) => {
    host.view.hold();
    host.zoom = !host.zoom;
    host.view.focus = host.zoom ? 'detail' : 'log';
  },
  search: (host) => host.startSearch(),
  'search-next': (host) => host.searchAgain(1),
  'search-prev': (host) => host.searchAgain(-1),
  filter: ({ view }) => {
    view.overlay = 'filter';
  },
  mode: ({ view }) => view.toggleMode(),
  'payload-view': ({ view }) => view.cyclePayloadView(),
  'fold-tree': ({ view }) => view.cycleTreeDepth(),
  handshake: ({ view }) => view.toggleHandshake(),
  'show-http': ({ view }) => view.toggleHttp(),
  pause: (host) => {
    host.view.togglePause();
    if (!host.view.paused) host.wake();
  },
  help: ({ view }) => {
    view.overlay = view.overlay === 'help' ? null : 'help';
    view.helpTop = 0;
  },
  'close-overlay': (host) => {
    if (host.view.overlay === null && host.zoom) {
      host.zoom = false;
      host.view.focus = 'log';
    }
    host.view.overlay = null;
  },
  quit: (host) => host.quit(),
  'filter-direction': ({ view }) => {
    const d = view.filter.direction === 'both' ? 'client' : view.filter.direction === 'client' ? 'server' : 'both';
    view.setFilter({ ...view.filter, direction: d });
  },
  'filter-text': ({ view }) => view.setFilter({ ...view.filter, text: !view.filter.text }),
  'filter-binary': ({ view }) => view.setFilter({ ...view.filter, binary: !view.filter.binary }),
  'filter-control': ({ view }) => view.setFilter({ ...view.filter, control: !view.filter.control }),
  'filter-ping': ({ view }) => view.setFilter({ ...view.filter, pingPong: !view.filter.pingPong }),
  'filter-reset': ({ view }) => view.setFilter(DEFAULT_FILTER),
  'filter-fields': (host) => {
    host.view.overlay = null;
    host.startFieldFilter();
  },
  'held-list': ({ view }) => {
    view.overlay = view.overlay === 'held' ? null : 'held';
  },
};

export function runCommand(action: Action, host: CommandHost): void {
  if (INTERCEPT_ACTIONS.has(action)) return;
  COMMANDS[action as Exclude<Action, InterceptKeyAction>](host);
}
