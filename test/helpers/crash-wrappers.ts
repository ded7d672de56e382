import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

/**
 * Crash injection at an exact point: `mount` and `umount` scripts to put first on a worker's
 * PATH. When the command's last argument (its target) is `$SM_CRASH_TARGET`, the script kills
 * its parent (the worker process under test) with SIGKILL just before running the real command
 * (`SM_CRASH_WHEN=before`; the command then does not run) or just after it (`after`). Any other
 * call runs the real command unchanged. The library's code path stays the production one.
 */
export async function writeCrashWrappers(dir: string): Promise<{ bin: string; env: (target: string, when: 'before' | 'after') => Record<string, string> }> {
  const bin = join(dir, 'crash-bin');
  await mkdir(bin, { recursive: true });
  for (const command of ['mount', 'umount']) {
    const real = (await execa('sh', ['-c', `command -v ${command}`])).stdout.trim();
    const script = [
      '#!/bin/sh',
      'for last; do :; done',
      'if [ "$last" = "$SM_CRASH_TARGET" ] && [ "$SM_CRASH_WHEN" = before ]; then kill -9 "$PPID"; exit 1; fi',
      `${real} "$@"`,
      'rc=$?',
      'if [ "$last" = "$SM_CRASH_TARGET" ] && [ "$SM_CRASH_WHEN" = after ]; then kill -9 "$PPID"; fi',
      'exit $rc',
      '',
    ].join('\n');
    await writeFile(join(bin, command), script);
    await chmod(join(bin, command), 0o755);
  }
  return {
    bin,
    env: (target, when) => ({ PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, SM_CRASH_TARGET: target, SM_CRASH_WHEN: when }),
  };
}
