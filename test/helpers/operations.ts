import type { Timeouts } from '../../src/manager-options.js';
import type { PublishRequest } from '../../src/publish-request.js';
import type { Source } from '../../src/backend.js';

/** What a worker process (worker.ts) is asked to do; passed as one JSON argument. */
export interface WorkerConfig {
  root: string;
  /** Bind sources (absolute directories); each has every directory of `subdirs`. */
  sources: string[];
  subdirs: string[];
  /** Targets the random operations choose from (their parent must exist). */
  targets: string[];
  seed: number;
  ops?: number | 'forever';
  single?: { kind: 'publish'; request: PublishRequest } | { kind: 'unpublish'; target: string } | { kind: 'reconcile' };
  timeouts?: Partial<Timeouts>;
}

/** What a worker with `ops: n` did, printed as its last line. */
export interface WorkerSummary {
  published: number;
  unpublished: number;
  /** Unpublishes that were a share's last (and unmounted it). */
  sharesUnmounted: number;
  conflicts: number;
}

/** The publication a target normally gets: a pure function of the target's index, so that most workers agree. */
export function usualRequest(config: Pick<WorkerConfig, 'sources' | 'subdirs' | 'targets'>, index: number, optionSpelling = 0): PublishRequest {
  const strategy = index % 5 === 4 ? 'symlink' : 'bind';
  const spellings: PublishRequest['options'][] = ['nosuid,nodev', 'nodev,nosuid,nodev', ['nosuid', 'nodev', 'nosuid']];
  return {
    source: { backend: 'bind', path: config.sources[index % config.sources.length]! } as Source,
    options: spellings[optionSpelling % spellings.length],
    subPath: config.subdirs[index % config.subdirs.length],
    readOnly: strategy === 'bind' && index % 3 === 0,
    target: config.targets[index]!,
    strategy,
  };
}

/** A small seeded PRNG (mulberry32): a failing run can be replayed from its seed. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

