import { AsyncLocalStorage } from 'node:async_hooks';

/*
 * Who wants to know how many bytes a tree copy made (the CSI plugin's metrics: snapshot and clone
 * bytes copied). The caller runs the backend call inside `accountCopies`; the copy code asks
 * `copyAccount()` after each copy and measures only when someone listens, so a copy nobody
 * accounts for costs nothing more, and no backend signature carries a metrics object.
 */

export type CopyListener = (bytes: number) => void;

const listeners = new AsyncLocalStorage<CopyListener>();

/** Runs `work`, handing the bytes of every tree copy made inside it to `listener` (none: nothing is measured). */
export function accountCopies<T>(listener: CopyListener | undefined, work: () => Promise<T>): Promise<T> {
  return listener === undefined ? work() : listeners.run(listener, work);
}

/** The listener of the copies made now, if any. */
export function copyAccount(): CopyListener | undefined {
  return listeners.getStore();
}
