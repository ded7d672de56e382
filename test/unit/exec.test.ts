import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/exec.js';
import { unmount } from '../../src/mount-command.js';
import { SharemountError } from '../../src/errors.js';

describe('run', () => {
  it('says a command that is not installed could not be started, and where it was looked for', async () => {
    const error = await run('sharemount-test-no-such-command', ['--secret-free-arg'], { timeoutMs: 5_000, env: { PATH: '/nonexistent-bin' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SharemountError);
    expect(error).toMatchObject({ code: 'FAILED_PRECONDITION', details: { command: 'sharemount-test-no-such-command', code: 'ENOENT' } });
    expect((error as Error).message).toBe('sharemount-test-no-such-command could not be started (ENOENT): not found on PATH (/nonexistent-bin); is its package installed?');
  });

  it('says a file that is not executable could not be started', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sharemount-exec-'));
    try {
      const script = join(dir, 'not-executable');
      await writeFile(script, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
      const error = await run(script, [], { timeoutMs: 5_000 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'FAILED_PRECONDITION', details: { code: 'EACCES' } });
      expect((error as Error).message).toBe(`${script} could not be started (EACCES)`);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('still reports a command that ran and failed with its stderr, its secrets hidden', async () => {
    const error = await run('sh', ['-c', 'echo "bad password=hunter2" >&2; exit 3', 'password=hunter2'], { timeoutMs: 5_000, sensitive: ['hunter2'] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'COMMAND_FAILED', details: { exitCode: 3 } });
    expect((error as Error).message).toContain('failed: bad password=***');
    expect((error as Error).message).not.toContain('hunter2');
  });

  it('gives up an unmount at once when umount cannot be started, with that reason', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent-bin';
    try {
      const error = await unmount('/nonexistent-target', 5_000).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'FAILED_PRECONDITION', details: { command: 'umount', code: 'ENOENT' } });
    } finally {
      process.env.PATH = path;
    }
  });
});
