import type { EventOfType, SessionEvent, SessionEventType } from './events.js';

export type Listener = (event: SessionEvent) => void;

interface Subscription {
  readonly listener: Listener;
  /** null: every type but `chunk` (raw bytes, only for sinks that name it). */
  readonly types: ReadonlySet<SessionEventType> | null;
  readonly name: string;
}

/**
 * Typed synchronous pub/sub between the event sources (proxy sessions, capture readers, replay)
 * and the sinks. A sink that throws is unsubscribed and reported once: it must never break the
 * relay or the other sinks.
 */
export class EventBus {
  #subs: Subscription[] = [];
  readonly #onSinkError: (name: string, error: unknown) => void;

  constructor(onSinkError: (name: string, error: unknown) => void = defaultSinkError) {
    this.#onSinkError = onSinkError;
  }

  /** Subscribe to all events, or only to `types`. Returns the unsubscribe function. */
  subscribe(name: string, listener: Listener, types?: readonly SessionEventType[]): () => void {
    const sub: Subscription = { listener, name, types: types ? new Set(types) : null };
    this.#subs = [...this.#subs, sub];
    return () => {
      this.#subs = this.#subs.filter((s) => s !== sub);
    };
  }

  on<K extends SessionEventType>(name: string, type: K, listener: (event: EventOfType<K>) => void): () => void {
    return this.subscribe(name, listener as Listener, [type]);
  }

  /** True when some subscriber wants events of this type: sources skip building the rest. */
  wants(type: SessionEventType): boolean {
    for (const s of this.#subs) if (s.types === null ? type !== 'chunk' : s.types.has(type)) return true;
    return false;
  }

  publish(event: SessionEvent): void {
    // #subs is replaced, never mutated, so a listener that (un)subscribes cannot disturb this loop.
    for (const s of this.#subs) {
      if (s.types === null ? event.type === 'chunk' : !s.types.has(event.type)) continue;
      try {
        s.listener(event);
      } catch (error) {
        this.#subs = this.#subs.filter((x) => x !== s);
        this.#onSinkError(s.name, error);
      }
    }
  }
}

function defaultSinkError(name: string, error: unknown): void {
  const detail = error instanceof Error ? error.message : String(error);
  process.stderr.write(`frametap: the ${name} sink failed and was stopped: ${detail}\n`);
}
