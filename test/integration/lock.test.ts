import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { KeyedLock } from '../../src/lock.js';
import { run } from '../../src/exec.js';

const holders: ChildProcess[] = [];
const scope = `lock-test-${process.pid}-${Date.now()}`;

async function holdInAnotherProcess(key: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/hold-lock.ts', scope, key], { stdio: ['ignore', 'pipe', 'inherit'] });
  holders.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('held') && resolve());
    child.once('exit', () => reject(new Error('lock holder exited early')));
  });
  return child;
}

afterEach(() => {
  for (const child of holders.splice(0)) child.kill('SIGKILL');
});

describe('KeyedLock across processes', () => {
  it('makes another process wait, and fails with BUSY at the bound', async () => {
    const holder = await holdInAnotherProcess('share:a');
    const error = await new KeyedLock(scope, 300).withLock('share:a', async () => 'got it').catch((e: unknown) => e);
    // It says who is in the way: the holder's pid, uid and name (never its command line).
    expect(error).toMatchObject({ code: 'BUSY', message: expect.stringContaining(`(held by pid ${holder.pid}, uid ${process.getuid!()}, "node")`) });
  });

  it('never makes different keys wait for each other', async () => {
    await holdInAnotherProcess('share:a');
    expect(await new KeyedLock(scope, 300).withLock('share:b', async () => 'got it')).toBe('got it');
  });

  it('is released by the kernel when its holder is killed with SIGKILL', async () => {
    const holder = await holdInAnotherProcess('share:c');
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    holder.kill('SIGKILL');
    await exited;
    // Well under the "about a second" DESIGN.md allows: the bound itself is one second.
    expect(await new KeyedLock(scope, 1_000).withLock('share:c', async () => 'got it')).toBe('got it');
  });

  it('serialises work on one key within a process', async () => {
    const lock = new KeyedLock(scope, 5_000);
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 40 }, () =>
        lock.withLock('share:d', async () => {
          most = Math.max(most, ++inside);
          await new Promise((r) => setTimeout(r, 1));
          inside--;
        }),
      ),
    );
    expect(most).toBe(1);
  });

  it('bounds a wait behind another operation of this process too, and the queue goes on behind a waiter that gave up', async () => {
    const lock = new KeyedLock(scope, 100);
    let release!: () => void;
    const holding = lock.withLock('share:f', () => new Promise<string>((resolve) => (release = () => resolve('held'))));
    const started = Date.now();
    const waiter = await lock.withLock('share:f', async () => 'got it').catch((e: unknown) => e);
    expect(waiter).toMatchObject({ code: 'BUSY', message: expect.stringContaining('waited longer than 100 ms behind other operations of this process for the lock for share:f') });
    expect(Date.now() - started).toBeLessThan(1_000);
    release();
    expect(await holding).toBe('held');
    // The waiter that timed out is not left holding the mutex when its turn comes.
    expect(await lock.withLock('share:f', async () => 'free again')).toBe('free again');
  });

  it('names keyed with a secret are the secret holder\'s alone: another secret, or none, makes other names', async () => {
    const secret = Buffer.alloc(32, 7);
    const holder = new KeyedLock(scope, 300, secret);
    await holder.withLock('share:h', async () => {
      expect(await new KeyedLock(scope, 300, Buffer.alloc(32, 8)).withLock('share:h', async () => 'other names')).toBe('other names');
      expect(await new KeyedLock(scope, 300).withLock('share:h', async () => 'unkeyed names')).toBe('unkeyed names');
      await expect(new KeyedLock(scope, 300, Buffer.from(secret)).withLock('share:h', async () => 'same name')).rejects.toMatchObject({ code: 'BUSY' });
    });
  });

  it('a bound past the longest timer Node can set still makes a waiter wait, instead of failing at once', async () => {
    const lock = new KeyedLock(scope, 2 * (2 ** 31 - 1)); // twice mkfsMs at its largest, as the LVM backend asks
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      let release!: () => void;
      const holding = lock.withLock('share:g', () => new Promise<void>((resolve) => (release = resolve)));
      const waiting = lock.withLock('share:g', async () => 'got it');
      await new Promise((resolve) => setTimeout(resolve, 50));
      release();
      await holding;
      expect(await waiting).toBe('got it');
      expect(warnings).not.toContain('TimeoutOverflowWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('withLocks holds every key it names, and lets all of them go when the work fails', async () => {
    const lock = new KeyedLock(scope, 300);
    const other = new KeyedLock(scope, 300);
    const during = await lock.withLocks(['target:e', 'share:e'], async () => ({
      // Another KeyedLock stands for another process: it must find both taken.
      target: await other.withLock('target:e', async () => 'got it').catch((e: unknown) => (e as { code?: string }).code),
      share: await other.withLock('share:e', async () => 'got it').catch((e: unknown) => (e as { code?: string }).code),
    }));
    expect(during).toEqual({ target: 'BUSY', share: 'BUSY' });
    await expect(lock.withLocks(['target:e', 'share:e'], async () => Promise.reject(new Error('work failed')))).rejects.toThrow('work failed');
    expect(await other.withLocks(['target:e', 'share:e'], async () => 'both free')).toBe('both free');
  });

  it('passes held locks to commands, so an orphaned command keeps the lock until it ends', async () => {
    const lock = new KeyedLock(scope, 5_000);
    const seen = await lock.withLock('share:e', () => run('sh', ['-c', 'ls -l /proc/self/fd/3'], { timeoutMs: 5_000, inheritLocks: true }));
    expect(seen.stdout).toMatch(/socket:/);
    // Without being asked (a FUSE mount helper would keep a daemon holding it), no lock is passed on.
    const plain = await lock.withLock('share:e', () => run('sh', ['-c', 'ls /proc/self/fd/3 2>&1 || true'], { timeoutMs: 5_000 }));
    expect(plain.stdout).toMatch(/No such file/);
  });
});
