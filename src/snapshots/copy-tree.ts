import { mkdir, mkdtemp, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../exec.js';
import { mount, unmount } from '../mount-command.js';
import type { Logger } from '../logger.js';
import { copyAccount } from '../copy-accounting.js';

/** What `copyTree` copies, and where it may make its short-lived view. */
export interface CopyTreeRequest {
  /** The directory that holds the tree (an export's root, a provisioning root): it is what gets the view. */
  parent: string;
  /** The tree: one entry of `parent`, a directory. */
  name: string;
  /** Where the copy goes; must not exist (it is made, with the tree's own mode, owner and times). */
  destination: string;
  /** A directory of this process's own (made when missing, mode 0700) for the view's mount point. */
  workDir: string;
  /** Bound on each mount and unmount. */
  commandTimeoutMs: number;
  /** Bound on the copy itself. */
  copyTimeoutMs: number;
  logger: Logger;
}

/**
 * Copies a volume's directory tree as `cp -a` does (modes, owners, times, ACLs and xattrs where
 * the filesystem has them, symlinks as symlinks, hard links as links within the copy, devices,
 * FIFOs and sockets as new nodes, never their contents), reading it through a read-only,
 * `nosymfollow` bind mount of its parent. The kernel then refuses to follow any symlink met on
 * the way (ELOOP), so a consumer who swaps a directory for a symlink to `/` while the copy runs
 * sends the copy nowhere outside the volume; the view is not recursive, so nothing mounted below
 * the parent is copied either. Why cp and not fs-extra's copy: docs/dependencies.md.
 */
export async function copyTree(request: CopyTreeRequest): Promise<void> {
  await mkdir(request.workDir, { recursive: true, mode: 0o700 });
  const view = await mkdtemp(join(request.workDir, 'view-'));
  try {
    await mount({ bind: true, source: request.parent, target: view, options: ['ro', 'nosymfollow'] }, request.commandTimeoutMs);
    try {
      // -T: the destination is the copy itself, never a directory to copy into.
      await run('cp', ['-a', '-T', '--', join(view, request.name), request.destination], { timeoutMs: request.copyTimeoutMs, env: { LC_ALL: 'C', LANG: 'C' } });
      await reportCopiedBytes(request);
    } finally {
      await unmount(view, request.commandTimeoutMs, request.logger);
    }
  } finally {
    await rmdir(view).catch((error: unknown) => request.logger.warn({ view, error: String(error) }, 'could not remove the copy view directory'));
  }
}

/**
 * Hands the copy's size (`du --apparent-size`: the bytes of its files, links and directories) to
 * whoever accounts for copies (copy-accounting.ts); measured only then. A failed measure is
 * logged, never the copy's failure.
 */
async function reportCopiedBytes(request: CopyTreeRequest): Promise<void> {
  const listener = copyAccount();
  if (listener === undefined) return;
  try {
    const { stdout } = await run('du', ['--summarize', '--apparent-size', '--block-size=1', '--', request.destination], { timeoutMs: request.copyTimeoutMs, env: { LC_ALL: 'C', LANG: 'C' } });
    const bytes = Number(/^(\d+)\s/.exec(stdout)?.[1]);
    if (Number.isFinite(bytes)) listener(bytes);
  } catch (error) {
    request.logger.warn({ destination: request.destination, error: String(error) }, 'could not measure a copy for the metrics');
  }
}
