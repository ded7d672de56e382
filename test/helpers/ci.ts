/**
 * Whether this run is a CI run: any non-empty `CI`. CI services set `true`, `1` or their own
 * name; taking only `true` let `CI=1` skip every integration test and still pass.
 */
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.CI ?? '') !== '';
}

/**
 * The gate for a suite whose prerequisite may be missing: on CI a missing prerequisite throws
 * (a failure, never a silent skip); off CI it says what is missing and returns true, for
 * `describe.skipIf`.
 */
export function skipWhenMissing(missing: string | undefined, suite: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (missing === undefined) return false;
  if (isCi(env)) throw new Error(`integration prerequisite missing on CI: ${missing} (${suite})`);
  console.warn(`skipping ${suite}: ${missing} is missing`);
  return true;
}
