import { time } from '../lib.js';

/** Something measured in two halves: making it (a publish, a mount) and unmaking it. */
export interface OperationPair {
  name: string;
  make(): Promise<unknown>;
  unmake(): Promise<unknown>;
  /** Throws unless `make` really made it (checked once, on the first round, outside the timing). */
  verify(): Promise<void>;
}

export interface PairSamples {
  make: number[];
  unmake: number[];
}

/**
 * Runs every pair `warmup + samples` times, round-robin, starting each round with the next pair,
 * so that the library's operations and the bare ones they are compared with meet the same
 * machine state (page cache, CPU frequency, background noise) instead of one after the other.
 * Returns the samples (milliseconds) after the warm-up rounds.
 */
export async function measureInterleaved(pairs: readonly OperationPair[], rounds: { warmup: number; samples: number }): Promise<Map<string, PairSamples>> {
  const results = new Map(pairs.map((pair) => [pair.name, { make: [] as number[], unmake: [] as number[] }]));
  for (let round = 0; round < rounds.warmup + rounds.samples; round++) {
    for (let i = 0; i < pairs.length; i++) {
      const pair = pairs[(round + i) % pairs.length]!;
      const made = await time(() => pair.make());
      if (round === 0) await pair.verify();
      const unmade = await time(() => pair.unmake());
      if (round < rounds.warmup) continue;
      const samples = results.get(pair.name)!;
      samples.make.push(made);
      samples.unmake.push(unmade);
    }
  }
  return results;
}
