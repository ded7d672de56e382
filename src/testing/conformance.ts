import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Timeouts } from '../manager-options.js';
import { MountManager } from '../mount-manager.js';
import { SharemountError } from '../errors.js';
import { canMount, createSandbox, type Sandbox } from './sandbox.js';
import { mountsUnder } from './mounts.js';
import type { AnyBackend, Source } from '../backend.js';

/** What the conformance suite needs to exercise a backend. */
export interface BackendConformanceOptions<S extends Source> {
  backend: AnyBackend;
  /**
   * Makes a fresh, empty, writable source for the backend (an export, a formatted volume, a
   * directory) and the way to remove it. Called once for the whole suite.
   */
  makeSource(sandbox: Sandbox): Promise<{ source: S; cleanup?: () => Promise<void> }>;
  /** Two spellings of one option set the backend accepts (order and duplicates differ). */
  equivalentOptions?: [string[], string[]];
  /** A source of this backend that cannot be mounted (a missing directory, a dead server). */
  unmountableSource?: S;
  timeouts?: Partial<Timeouts>;
  /** Other backends the manager should know (rarely needed). */
  extraBackends?: AnyBackend[];
}

/**
 * The shared backend conformance suite: registers vitest tests proving that a backend works
 * with the MountManager as the core's invariants require. Run it from an integration test file,
 * as root, in a private mount namespace:
 *
 *   testBackend('my backend', { backend: myBackend(), makeSource: async (sb) => ({ source: ... }) });
 */
export function testBackend<S extends Source>(title: string, options: BackendConformanceOptions<S>): void {
  describe(`backend conformance: ${title}`, () => {
    let sandbox: Sandbox;
    let source: S;
    let cleanupSource: (() => Promise<void>) | undefined;
    let manager: MountManager;

    beforeAll(async () => {
      if (!canMount()) throw new Error('the backend conformance suite needs root (real mounts)');
      sandbox = await createSandbox('sharemount-conformance-');
      await mkdir(sandbox.pods, { recursive: true });
      const made = await options.makeSource(sandbox);
      source = made.source;
      cleanupSource = made.cleanup;
      manager = new MountManager({ root: sandbox.root, backends: [options.backend, ...(options.extraBackends ?? [])], timeouts: options.timeouts });
    });

    afterAll(async () => {
      if (!sandbox) return;
      await sandbox.cleanup();
      await cleanupSource?.();
    });

    const target = (name: string) => join(sandbox.pods, name);
    const shareMounts = async () => (await mountsUnder(sandbox.root)).filter((m) => m.mountPoint.endsWith('/mnt'));

    it('has a valid name and a source schema that accepts its own sources only', () => {
      expect(options.backend.name).toMatch(/^[a-z][a-z0-9-]{0,31}$/);
      expect(source.backend).toBe(options.backend.name);
      expect(options.backend.sourceSchema.safeParse(source).success).toBe(true);
      expect(options.backend.sourceSchema.safeParse({ ...source, backend: 'not-this-one' }).success).toBe(false);
    });

    it('gives equal sources equal layouts', () => {
      expect(options.backend.layout(structuredClone(source))).toEqual(options.backend.layout(source));
    });

    it('mounts the source once for many publications, and each shows its sub-path', async () => {
      const names = ['a', 'b', 'c', 'd'];
      for (const name of names) {
        await manager.publish({ source, subPath: `dirs/${name}`, createIfNecessary: true, target: target(name) });
      }
      expect(await shareMounts()).toHaveLength(1);
      await writeFile(join(target('a'), 'hello'), 'from a');
      const [share] = await manager.list();
      expect(share?.publications).toHaveLength(names.length);
      expect(await readFile(join(share!.mountPoint, 'dirs/a/hello'), 'utf8')).toBe('from a');
      await expect(readFile(join(target('b'), 'hello'), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('is idempotent by target and refuses a different publication on a used target', async () => {
      const again = await manager.publish({ source, subPath: 'dirs/a', target: target('a') });
      expect(again.subPath).toBe('dirs/a');
      await expect(manager.publish({ source, subPath: 'dirs/b', target: target('a') })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      expect(await shareMounts()).toHaveLength(1);
    });

    it('makes read-only publications read-only', async () => {
      await manager.publish({ source, subPath: 'dirs/a', readOnly: true, target: target('ro') });
      await expect(writeFile(join(target('ro'), 'x'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
      expect(await readFile(join(target('ro'), 'hello'), 'utf8')).toBe('from a');
    });

    if (options.equivalentOptions) {
      const [first, second] = options.equivalentOptions;
      it('maps equal option sets in any order to one share', async () => {
        expect(await manager.shareKeyOf({ source, options: first })).toBe(await manager.shareKeyOf({ source, options: second }));
      });
    }

    it('finds nothing to repair in a consistent state', async () => {
      const report = await manager.reconcile();
      expect(report.droppedReferences).toEqual([]);
      expect(report.unmountedShares).toEqual([]);
      expect(report.adoptedPublications).toEqual([]);
    });

    it('unmounts the share with the last unpublish, and unpublish is idempotent', async () => {
      const [share] = await manager.list();
      for (const publication of share!.publications) {
        const result = await manager.unpublish(publication.target);
        expect(result.unpublished).toBe(true);
      }
      expect(await manager.unpublish(target('a'))).toEqual({ unpublished: false, shareUnmounted: false });
      expect(await shareMounts()).toHaveLength(0);
      expect(await mountsUnder(sandbox.pods)).toHaveLength(0);
      expect(await manager.list()).toEqual([]);
    });

    if (options.unmountableSource) {
      it('reports a failed share mount as a SharemountError and leaves nothing behind', async () => {
        const error = await manager.publish({ source: options.unmountableSource!, target: target('fails') }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(SharemountError);
        expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
        expect(await manager.list()).toEqual([]);
      });
    }
  });
}
