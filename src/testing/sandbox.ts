import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { mountsUnder } from './mounts.js';

/** A temp dir for one test: `root` (state), `pods` (targets) and anything else under `dir`. */
export interface Sandbox {
  dir: string;
  root: string;
  pods: string;
  /** Lazily unmounts everything below `dir`, deepest first, then removes the tree. */
  cleanup(): Promise<void>;
}

export async function createSandbox(prefix = 'sharemount-test-'): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return {
    dir,
    root: join(dir, 'root'),
    pods: join(dir, 'pods'),
    async cleanup() {
      const leftovers = (await mountsUnder(dir)).reverse();
      for (const entry of leftovers) await execa('umount', ['--lazy', '--no-canonicalize', entry.mountPoint], { reject: false });
      if ((await mountsUnder(dir)).length === 0) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Whether this process may mount (root with CAP_SYS_ADMIN, roughly: uid 0). */
export function canMount(): boolean {
  return process.getuid?.() === 0;
}
