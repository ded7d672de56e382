import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

/**
 * Crash injection at an exact point: `mount` and `umount` scripts to put first on a worker's
 * PATH. When the command's last argument (its target) is `$SM_CRASH_TARGET`, the script kills
 * its parent (the worker process under test) with SIGKILL just before running the real command
 * (`SM_CRASH_WHEN=before`; the command then does not run), just after it (`after`), or just
 * before it with the command still run half a second later (`during`: the caller died while
 * its command was in flight; `SM_CRASH_SIGNAL` names other signals than KILL, sent in turn, and
 * `SM_CRASH_SLEEP` a longer wait), or
 * (`split`, for a read-only bind) between the bind and the `ro` remount that util-linux makes of
 * it, both run by the script itself, the second a second after the signal (`SM_CRASH_SIGNAL=exit`:
 * no signal, the second step waits until the caller has exited on its own, at its deadline, for
 * at most a minute). The matching call touches `$SM_CRASH_DONE` (when set) as it
 * exits. Any other call runs the real command unchanged: the library's code path stays the
 * production one.
 */
export type CrashWhen = 'before' | 'during' | 'after' | 'split';

/** Writes the wrappers into `<dir>/crash-bin` and returns the environment that arms them. */
export async function writeCrashWrappers(dir: string): Promise<{ bin: string; env: (target: string, when: CrashWhen, done?: string, signal?: string) => Record<string, string> }> {
  const bin = join(dir, 'crash-bin');
  await mkdir(bin, { recursive: true });
  for (const command of ['mount', 'umount']) {
    const real = (await execa('sh', ['-c', `command -v ${command}`])).stdout.trim();
    const script = [
      '#!/bin/sh',
      'for last; do :; done',
      'hit=no; [ "$last" = "$SM_CRASH_TARGET" ] && hit=yes',
      'done_() { [ "$hit" = yes ] && [ -n "$SM_CRASH_DONE" ] && touch "$SM_CRASH_DONE"; exit "$1"; }',
      'if [ "$hit" = yes ] && [ "$SM_CRASH_WHEN" = before ]; then kill -9 "$PPID"; done_ 1; fi',
      'if [ "$hit" = yes ] && [ "$SM_CRASH_WHEN" = during ]; then for sig in ${SM_CRASH_SIGNAL:-KILL}; do kill -"$sig" "$PPID"; sleep 0.25; done; sleep "${SM_CRASH_SLEEP:-0.25}"; fi',
      // split: util-linux's read-only bind as its two steps, the caller signalled between them.
      'if [ "$hit" = yes ] && [ "$SM_CRASH_WHEN" = split ]; then',
      '  n=$#; opts=; take=no',
      '  for a; do if [ $take = yes ]; then opts=$a; take=no; elif [ "$a" = -o ]; then take=yes; else set -- "$@" "$a"; fi; done',
      '  shift "$n"',
      `  ${real} "$@" || done_ $?`,
      '  if [ "$SM_CRASH_SIGNAL" = exit ]; then i=0; while kill -0 "$PPID" 2>/dev/null && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done',
      '  else for sig in ${SM_CRASH_SIGNAL:-KILL}; do kill -"$sig" "$PPID"; sleep 0.25; done; fi; sleep 0.75',
      `  ${real} --no-canonicalize -o "remount,bind,$opts" -- "$last"; done_ $?`,
      'fi',
      `${real} "$@"`,
      'rc=$?',
      'if [ "$hit" = yes ] && [ "$SM_CRASH_WHEN" = after ]; then kill -9 "$PPID"; fi',
      'done_ $rc',
      '',
    ].join('\n');
    await writeFile(join(bin, command), script);
    await chmod(join(bin, command), 0o755);
  }
  return {
    bin,
    env: (target, when, done = '', signal = 'KILL') => ({ PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, SM_CRASH_TARGET: target, SM_CRASH_WHEN: when, SM_CRASH_DONE: done, SM_CRASH_SIGNAL: signal }),
  };
}
