import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface MemorySnapshot {
  rssBytes: number;
  heapUsedBytes: number;
}

// Exposes V8's gc() without a command-line flag, so that heap figures are of live objects only.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** The process's resident set and live heap, after a full garbage collection. */
export function memorySnapshot(): MemorySnapshot {
  collectGarbage();
  const usage = process.memoryUsage();
  return { rssBytes: usage.rss, heapUsedBytes: usage.heapUsed };
}

export const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
