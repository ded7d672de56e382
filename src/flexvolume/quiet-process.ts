/**
 * Makes sure the process writes nothing but its reply. kubelet reads stdout and stderr merged
 * and parses the whole output as one JSON document, so a Node warning, a stray console.log in
 * a dependency or a stack trace from an uncaught error would turn any reply into a failure.
 *
 * - Warnings: Node prints them from its own 'warning' listener; removing it is what
 *   `--no-warnings` does, and works inside a single executable where flags cannot be passed.
 * - `process.stdout` and `process.stderr` (which console uses) write to `onStray` instead; the
 *   reply itself goes to fd 1 directly. The streams are patched when first used, not here:
 *   creating them costs milliseconds that a call which never touches them should not pay.
 * - Uncaught exceptions and unhandled rejections go to `onFatal`, which must reply and exit.
 */
export function quietProcess(handlers: {
  onStray: (stream: 'stdout' | 'stderr' | 'warning', text: string) => void;
  onFatal: (error: unknown) => void;
}): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning) => handlers.onStray('warning', `${warning.name}: ${warning.message}`));
  for (const name of ['stdout', 'stderr'] as const) {
    const descriptor = Object.getOwnPropertyDescriptor(process, name);
    const create = descriptor?.get;
    if (create === undefined) {
      divert(process[name], name, handlers.onStray);
      continue;
    }
    let stream: NodeJS.WriteStream | undefined;
    Object.defineProperty(process, name, {
      configurable: true,
      enumerable: descriptor?.enumerable ?? false,
      get: () => (stream ??= divert(create.call(process) as NodeJS.WriteStream, name, handlers.onStray)),
    });
  }
  process.on('uncaughtException', handlers.onFatal);
  process.on('unhandledRejection', handlers.onFatal);
}

function divert(stream: NodeJS.WriteStream, name: 'stdout' | 'stderr', onStray: (stream: 'stdout' | 'stderr', text: string) => void): NodeJS.WriteStream {
  stream.write = ((chunk: unknown, encoding?: unknown, callback?: unknown) => {
    onStray(name, typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    const done = typeof encoding === 'function' ? encoding : callback;
    if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
    return true;
  }) as typeof stream.write;
  return stream;
}
