/**
 * @module client/emitter
 * A small typed event emitter: `on(name, fn)` returns the function that unsubscribes.
 * A listener that throws does not stop the others, nor the SDK: its error goes to
 * `reportError` (browsers) or `console.error` (Node, where rethrowing would end the process).
 */
export type Listener<T> = (payload: T) => void;

export class Emitter<Events extends Record<string, unknown>> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Calls `fn` for every `name` event until the returned function is called. */
  on<K extends keyof Events>(name: K, fn: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    set.add(fn as Listener<never>);
    return () => {
      set.delete(fn as Listener<never>);
    };
  }

  /** Like `on`, for the next event only. */
  once<K extends keyof Events>(name: K, fn: Listener<Events[K]>): () => void {
    const off = this.on(name, (payload) => {
      off();
      fn(payload);
    });
    return off;
  }

  protected emit<K extends keyof Events>(name: K, payload: Events[K]): void {
    const set = this.#listeners.get(name);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        (fn as Listener<Events[K]>)(payload);
      } catch (error) {
        report(error);
      }
    }
  }

  protected removeAllListeners(): void {
    this.#listeners.clear();
  }
}

function report(error: unknown): void {
  const { reportError } = globalThis as { reportError?: (error: unknown) => void };
  if (reportError) reportError(error);
  else console.error(error);
}
