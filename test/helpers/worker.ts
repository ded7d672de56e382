/**
 * A separate process acting on a MountManager with a shared state root, as kubelet runs one
 * FlexVolume driver process per call. Run as `node --import tsx worker.ts '<json WorkerConfig>'` or bundled (workers.ts)
 * (one process, so that SIGKILL of its PID kills the code under test and nothing else).
 *
 * Prints `ready` once the manager is initialised, then, depending on the config:
 * - `single`: one operation, then its outcome as one JSON line;
 * - `ops: n`: n random operations, then a JSON summary line;
 * - `ops: 'forever'`: random operations until killed (the crash tests).
 * The only error a random operation may get is ALREADY_EXISTS (two callers disagreeing about a
 * target); anything else is printed to stderr and the worker exits 1.
 */
import { MountManager } from '../../src/mount-manager.js';
import { bindBackend } from '../../src/backends/bind.js';
import { isSharemountError } from '../../src/errors.js';
import { random, usualRequest, type WorkerConfig, type WorkerSummary } from './operations.js';

async function randomOperation(manager: MountManager, config: WorkerConfig, next: () => number, summary: WorkerSummary): Promise<void> {
  const index = Math.floor(next() * config.targets.length);
  const target = config.targets[index]!;
  if (next() < 0.5) {
    const result = await manager.unpublish(target);
    if (result.unpublished) summary.unpublished++;
    if (result.shareUnmounted) summary.sharesUnmounted++;
    return;
  }
  let request = usualRequest(config, index, Math.floor(next() * 3));
  if (next() < 0.15) {
    // A caller that disagrees about this target: another source or sub-path.
    request = { ...usualRequest(config, Math.floor(next() * config.targets.length)), target };
  }
  try {
    await manager.publish(request);
    summary.published++;
  } catch (error) {
    if (!isSharemountError(error, 'ALREADY_EXISTS')) throw error;
    summary.conflicts++;
  }
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2]!) as WorkerConfig;
  // SIGUSR2 makes the worker exit at once with process.exit, as a FlexVolume call does at its
  // deadline or on a fatal error (the crash tests' "normal exit").
  process.on('SIGUSR2', () => process.exit(0));
  const manager = new MountManager({ root: config.root, backends: [bindBackend({ allowedPaths: ['/'] })], timeouts: config.timeouts });
  await manager.root();
  process.stdout.write('ready\n');

  if (config.single) {
    const single = config.single;
    try {
      const result = single.kind === 'publish' ? await manager.publish(single.request) : single.kind === 'reconcile' ? await manager.reconcile() : await manager.unpublish(single.target);
      process.stdout.write(`${JSON.stringify({ ok: true, result })}\n`);
    } catch (error) {
      const { code, field, message } = error as { code?: string; field?: string; message: string };
      process.stdout.write(`${JSON.stringify({ ok: false, code, field, message })}\n`);
    }
    return;
  }

  const next = random(config.seed);
  const summary: WorkerSummary = { published: 0, unpublished: 0, sharesUnmounted: 0, conflicts: 0 };
  const total = config.ops ?? 100;
  for (let i = 0; total === 'forever' || i < total; i++) await randomOperation(manager, config, next, summary);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`worker failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
