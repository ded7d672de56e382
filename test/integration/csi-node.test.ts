/**
 * The CSI shim on real mounts, called as kubelet calls it: real gRPC over the plugin's unix
 * socket. Two PVs that are sub-directories of one source share one mount of it; every call is
 * idempotent; bad input answers the status the spec asks for, naming the field, with nothing
 * mounted; secrets never reach the log.
 */
import { lstat, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bindBackend } from '../../src/backends/bind.js';
import { createCsiPlugin, type CsiPlugin } from '../../src/csi/index.js';
import { ReadOnlyIntents } from '../../src/csi/read-only-intents.js';
import type { Logger } from '../../src/logger.js';
import { csiClient, mountCapability, type CsiClient } from '../helpers/csi-client.js';
import { expectStatus } from '../helpers/csi-expect.js';
import { createSandbox, mountsUnder, seedSourceTree, skipUnlessReady, unmountEverythingUnder, type Sandbox } from '../helpers/sandbox.js';

const skip = skipUnlessReady();

/** A logger that keeps every line, to look for secrets in. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const record = (level: string) => (fields: Record<string, unknown>, message: string) => void lines.push(JSON.stringify({ level, message, ...fields }));
  return { lines, debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') };
}

describe.skipIf(skip)('csi: the node plugin over gRPC', () => {
  let sandbox: Sandbox;
  let plugin: CsiPlugin;
  let client: CsiClient;
  const logger = recordingLogger();
  let socketPath: string;

  const staging = (pv: string) => join(sandbox.dir, 'kubelet', 'plugins', 'kubernetes.io', 'csi', 'sharemount.example.com', pv, 'globalmount');
  const target = (pod: string, pv: string) => join(sandbox.pods, pod, 'volumes', 'kubernetes.io~csi', pv, 'mount');
  // kubelet makes the staging directory and the target's parent before it calls.
  const kubeletDirs = async (pv: string, pod?: string) => {
    await mkdir(staging(pv), { recursive: true });
    if (pod !== undefined) await mkdir(join(target(pod, pv), '..'), { recursive: true });
  };
  const context = (subPath: string, extra: Record<string, string> = {}) => ({ path: sandbox.source, subPath, ...extra });
  const stage = (pv: string, subPath: string, extra: Record<string, unknown> = {}) =>
    client.node.NodeStageVolume({ volume_id: pv, staging_target_path: staging(pv), volume_capability: mountCapability(), volume_context: context(subPath), ...extra });
  const publish = (pv: string, pod: string, extra: Record<string, unknown> = {}) =>
    client.node.NodePublishVolume({ volume_id: pv, staging_target_path: staging(pv), target_path: target(pod, pv), volume_capability: mountCapability(), ...extra });
  const shareMounts = async () => (await mountsUnder(sandbox.root)).filter((m) => m.mountPoint.endsWith('/mnt'));

  beforeAll(async () => {
    sandbox = await createSandbox('sharemount-csi-');
    await seedSourceTree(sandbox.source, 4);
    socketPath = join(sandbox.dir, 'csi.sock');
    plugin = createCsiPlugin({ name: 'sharemount.example.com', vendorVersion: '0.1.0', nodeId: 'node-1', endpoint: `unix://${socketPath}`, backends: [bindBackend({ allowedPaths: ['/'] })], root: sandbox.root, logger });
    await plugin.start();
    client = await csiClient(socketPath);
  });

  afterEach(async () => {
    expect(logger.lines.join('\n')).not.toContain('hunter2');
  });

  afterAll(async () => {
    client?.close();
    await plugin?.stop();
    await unmountEverythingUnder(sandbox.dir);
    await sandbox?.cleanup();
  });

  it('answers the Identity calls and the capability calls, and listens on a socket only its owner can use', async () => {
    expect(await client.identity.GetPluginInfo({})).toMatchObject({ name: 'sharemount.example.com', vendor_version: '0.1.0' });
    expect((await client.identity.GetPluginCapabilities({})).capabilities).toEqual([]);
    expect(await client.identity.Probe({})).toMatchObject({ ready: { value: true } });
    expect((await client.controller.ControllerGetCapabilities({})).capabilities).toEqual([{ rpc: { type: 'SINGLE_NODE_MULTI_WRITER' }, type: 'rpc' }]);
    const node = await client.node.NodeGetCapabilities({});
    expect(node.capabilities.map((c: { rpc: { type: string } }) => c.rpc.type).sort()).toEqual(['GET_VOLUME_STATS', 'SINGLE_NODE_MULTI_WRITER', 'STAGE_UNSTAGE_VOLUME', 'VOLUME_CONDITION']);
    expect(await client.node.NodeGetInfo({})).toMatchObject({ node_id: 'node-1', max_volumes_per_node: 0 });
    expect((await lstat(socketPath)).mode & 0o777).toBe(0o600);
  });

  it('answers UNIMPLEMENTED for the calls a node-only plugin does not serve', async () => {
    await expectStatus(client.raw('/csi.v1.Controller/CreateVolume'), status.UNIMPLEMENTED, '');
    await expectStatus(client.raw('/csi.v1.Node/NodeExpandVolume'), status.UNIMPLEMENTED, '');
  });

  it('two PVs on sub-directories of one source: one share mount, a bind mount per staging path and per pod, all gone after the last unstage', async () => {
    await kubeletDirs('pv-a', 'pod-1');
    await kubeletDirs('pv-b', 'pod-2');
    await mkdir(join(target('pod-3', 'pv-a'), '..'), { recursive: true });
    await stage('pv-a', 'd000', { secrets: { password: 'hunter2' } });
    await stage('pv-b', 'd001');
    expect(await shareMounts()).toHaveLength(1);

    await publish('pv-a', 'pod-1');
    await publish('pv-a', 'pod-3', { readonly: true });
    await publish('pv-b', 'pod-2');
    expect(await readFile(join(target('pod-1', 'pv-a'), 'data.txt'), 'utf8')).toBe('contents of d000\n');
    expect(await readFile(join(target('pod-2', 'pv-b'), 'data.txt'), 'utf8')).toBe('contents of d001\n');
    await writeFile(join(target('pod-1', 'pv-a'), 'written.txt'), 'ok');
    expect(await readFile(join(sandbox.source, 'd000', 'written.txt'), 'utf8')).toBe('ok');
    await expect(writeFile(join(target('pod-3', 'pv-a'), 'nope.txt'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
    expect(await mountsUnder(sandbox.pods)).toHaveLength(3);

    const stats = await client.node.NodeGetVolumeStats({ volume_id: 'pv-a', volume_path: target('pod-1', 'pv-a') });
    expect(stats.usage.map((u: { unit: string }) => u.unit)).toEqual(['BYTES', 'INODES']);
    expect(stats.usage[0].total).toBeGreaterThan(0);
    expect(stats.volume_condition).toEqual({ abnormal: false, message: 'the volume answers' });

    for (const [pod, pv] of [['pod-1', 'pv-a'], ['pod-3', 'pv-a'], ['pod-2', 'pv-b']] as const) {
      await client.node.NodeUnpublishVolume({ volume_id: pv, target_path: target(pod, pv) });
      await expect(lstat(target(pod, pv))).rejects.toMatchObject({ code: 'ENOENT' });
    }
    expect(await mountsUnder(sandbox.pods)).toHaveLength(0);
    await client.node.NodeUnstageVolume({ volume_id: 'pv-a', staging_target_path: staging('pv-a') });
    expect(await shareMounts()).toHaveLength(1); // pv-b still holds it
    await client.node.NodeUnstageVolume({ volume_id: 'pv-b', staging_target_path: staging('pv-b') });
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
    expect((await stat(staging('pv-a'))).isDirectory()).toBe(true); // kubelet's to remove
  });

  it('every call repeated succeeds again, and undoing what was never done succeeds', async () => {
    await kubeletDirs('pv-r', 'pod-r');
    await stage('pv-r', 'd002');
    await stage('pv-r', 'd002');
    await publish('pv-r', 'pod-r');
    await publish('pv-r', 'pod-r');
    expect(await mountsUnder(sandbox.pods)).toHaveLength(1);
    for (let i = 0; i < 2; i++) await client.node.NodeUnpublishVolume({ volume_id: 'pv-r', target_path: target('pod-r', 'pv-r') });
    for (let i = 0; i < 2; i++) await client.node.NodeUnstageVolume({ volume_id: 'pv-r', staging_target_path: staging('pv-r') });
    await client.node.NodeUnpublishVolume({ volume_id: 'never', target_path: target('pod-never', 'never') });
    await client.node.NodeUnstageVolume({ volume_id: 'never', staging_target_path: staging('never') });
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
  });

  it('overlapping calls for one volume run one at a time: 12 publishes of one target make one mount', async () => {
    await kubeletDirs('pv-c', 'pod-c');
    await stage('pv-c', 'd003');
    await Promise.all(Array.from({ length: 12 }, () => publish('pv-c', 'pod-c')));
    expect(await mountsUnder(sandbox.pods)).toHaveLength(1);
    await client.node.NodeUnpublishVolume({ volume_id: 'pv-c', target_path: target('pod-c', 'pv-c') });
    await client.node.NodeUnstageVolume({ volume_id: 'pv-c', staging_target_path: staging('pv-c') });
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
  });

  it('a missing or bad field answers INVALID_ARGUMENT naming it, with nothing mounted', async () => {
    await kubeletDirs('pv-x', 'pod-x');
    const base = { volume_id: 'pv-x', staging_target_path: staging('pv-x'), volume_capability: mountCapability(), volume_context: context('d000'), secrets: { password: 'hunter2' } };
    await expectStatus(client.node.NodeStageVolume({ ...base, volume_id: '' }), status.INVALID_ARGUMENT, 'volume_id: is required');
    await expectStatus(client.node.NodeStageVolume({ ...base, volume_id: 'x'.repeat(129) }), status.INVALID_ARGUMENT, 'volume_id: must be at most 128 bytes');
    await expectStatus(client.node.NodeStageVolume({ ...base, staging_target_path: '' }), status.INVALID_ARGUMENT, 'staging_target_path: is required');
    await expectStatus(client.node.NodeStageVolume({ ...base, staging_target_path: 'relative/path' }), status.INVALID_ARGUMENT, 'staging_target_path: must be an absolute path');
    await expectStatus(client.node.NodeStageVolume({ ...base, volume_capability: undefined }), status.INVALID_ARGUMENT, 'volume_capability: is required');
    await expectStatus(client.node.NodeStageVolume({ ...base, volume_capability: { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } } }), status.INVALID_ARGUMENT, 'volume_capability.block');
    await expectStatus(client.node.NodeStageVolume({ ...base, volume_capability: { mount: {} } }), status.INVALID_ARGUMENT, 'volume_capability.access_mode: is required');
    await expectStatus(client.node.NodeStageVolume({ ...base, volume_context: context('../..') }), status.INVALID_ARGUMENT, 'volume_context.subPath');
    // A target at, in or above the staging path would mount the volume into itself.
    const publishBase = { volume_id: 'pv-x', staging_target_path: staging('pv-x'), volume_capability: mountCapability() };
    for (const path of [staging('pv-x'), join(staging('pv-x'), 'inside'), join(staging('pv-x'), '..')]) {
      await expectStatus(client.node.NodePublishVolume({ ...publishBase, target_path: path }), status.INVALID_ARGUMENT, 'target_path: must lie outside staging_target_path');
    }
    await expectStatus(client.node.NodeStageVolume({ ...base, volume_context: context('d000', { pasword: 'hunter2' }) }), status.INVALID_ARGUMENT, 'volume_context.pasword');
    await expectStatus(client.node.NodeStageVolume({ ...base, volume_context: { subPath: 'd000' } }), status.INVALID_ARGUMENT, 'volume_context.path');
    await expectStatus(client.node.NodePublishVolume({ volume_id: 'pv-x', staging_target_path: staging('pv-x'), volume_capability: mountCapability() }), status.INVALID_ARGUMENT, 'target_path: is required');
    await expectStatus(client.node.NodePublishVolume({ volume_id: 'pv-x', target_path: target('pod-x', 'pv-x'), volume_capability: mountCapability() }), status.INVALID_ARGUMENT, 'staging_target_path: is required');
    await expectStatus(client.node.NodeUnpublishVolume({ volume_id: 'pv-x' }), status.INVALID_ARGUMENT, 'target_path: is required');
    await expectStatus(client.node.NodeUnstageVolume({ staging_target_path: staging('pv-x') }), status.INVALID_ARGUMENT, 'volume_id: is required');
    await expectStatus(client.node.NodeGetVolumeStats({ volume_id: 'pv-x' }), status.INVALID_ARGUMENT, 'volume_path: is required');
    // A secret joined by a comma into a flag item, in a flag refused: the answer (which kubelet
    // turns into a pod event) names the flag, never the secret.
    for (const flags of [['vers=4.1,password=hunter2 x'], ['nosuid,password=hunter2', 'a b']]) {
      const refused = await client.node.NodeStageVolume({ ...base, volume_capability: mountCapability('SINGLE_NODE_WRITER', flags) }).then(() => undefined, (error: Error) => error);
      expect(refused).toMatchObject({ code: status.INVALID_ARGUMENT });
      expect(refused?.message).not.toContain('hunter2');
    }
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
  });

  it('target_path and staging_target_path are compared by identity: through another path to kubelet\'s directory (a real bind mount), the target inside the staging path, the staging path itself and a directory above it are refused, with nothing made', async () => {
    await kubeletDirs('pv-a', 'pod-a');
    await stage('pv-a', 'd002');
    // kubelet's plugin directory bound elsewhere, with the staging mount in it (--rbind copies it).
    const plugins = join(sandbox.dir, 'kubelet', 'plugins');
    const alias = join(sandbox.dir, 'plugins-alias');
    await mkdir(alias);
    await execa('mount', ['--rbind', plugins, alias]);
    try {
      const viaAlias = (path: string) => join(alias, path.slice(plugins.length));
      const publishAt = (targetPath: string) => client.node.NodePublishVolume({ volume_id: 'pv-a', staging_target_path: staging('pv-a'), target_path: targetPath, volume_capability: mountCapability() });
      const mountsBefore = await mountsUnder(sandbox.dir);
      for (const targetPath of [join(viaAlias(staging('pv-a')), 'inside'), viaAlias(staging('pv-a')), join(viaAlias(staging('pv-a')), '..')]) {
        await expectStatus(publishAt(targetPath), status.INVALID_ARGUMENT, 'target_path: must lie outside staging_target_path');
      }
      // The other way round: the staging path named through the alias, the target the real one above it.
      await expectStatus(
        client.node.NodePublishVolume({ volume_id: 'pv-a', staging_target_path: viaAlias(staging('pv-a')), target_path: join(staging('pv-a'), '..', '..', 'pv-above'), volume_capability: mountCapability() }),
        status.FAILED_PRECONDITION, // not refused for being apart: pv-a is staged at the real path, not at the alias's
        'is not staged',
      );
      expect(await mountsUnder(sandbox.dir)).toEqual(mountsBefore);
      await expect(stat(join(sandbox.source, 'd002', 'inside'))).rejects.toMatchObject({ code: 'ENOENT' });

      // A pod's target next to it is published, and published again (a repeat shows the same directory as the staging path).
      await publish('pv-a', 'pod-a');
      await publish('pv-a', 'pod-a');
      expect((await stat(target('pod-a', 'pv-a'))).ino).toBe((await stat(join(sandbox.source, 'd002'))).ino);
    } finally {
      await execa('umount', ['-R', alias]);
    }
    await client.node.NodeUnpublishVolume({ volume_id: 'pv-a', target_path: target('pod-a', 'pv-a') });
    await client.node.NodeUnstageVolume({ volume_id: 'pv-a', staging_target_path: staging('pv-a') });
  });

  it('state the call does not fit answers FAILED_PRECONDITION, ALREADY_EXISTS or NOT_FOUND', async () => {
    await kubeletDirs('pv-s', 'pod-s');
    await expectStatus(publish('pv-s', 'pod-s'), status.FAILED_PRECONDITION, 'is not staged');
    await expectStatus(publish('pv-s', 'pod-s', { staging_target_path: join(sandbox.dir, 'no', 'such', 'globalmount') }), status.FAILED_PRECONDITION, 'is not staged');
    await symlink('looping-staging', join(sandbox.dir, 'looping-staging'));
    await expectStatus(publish('pv-s', 'pod-s', { staging_target_path: join(sandbox.dir, 'looping-staging') }), status.FAILED_PRECONDITION, 'is not staged');
    await stage('pv-s', 'd001');
    await expectStatus(stage('pv-s', 'd002'), status.ALREADY_EXISTS, 'staging_target_path');
    await publish('pv-s', 'pod-s', { readonly: true });
    await expectStatus(publish('pv-s', 'pod-s'), status.ALREADY_EXISTS, 'published read-only');
    await expectStatus(client.node.NodePublishVolume({ volume_id: 'pv-s', staging_target_path: staging('pv-s'), target_path: join(sandbox.dir, 'no', 'such', 'parent', 'mount'), volume_capability: mountCapability() }), status.NOT_FOUND, 'does not exist');
    await expectStatus(client.node.NodeGetVolumeStats({ volume_id: 'pv-s', volume_path: join(sandbox.dir, 'not-a-volume') }), status.NOT_FOUND, 'is not staged or published');
    await expectStatus(client.node.NodeGetVolumeStats({ volume_id: 'pv-s', volume_path: 'some/path' }), status.NOT_FOUND, 'is not staged or published');

    // Calls that name another volume than the one at the path: refused, and nothing is touched.
    const capability = mountCapability();
    await expectStatus(
      client.node.NodeStageVolume({ volume_id: 'pv-other', staging_target_path: staging('pv-s'), volume_capability: capability, volume_context: context('d001') }),
      status.FAILED_PRECONDITION,
      'holds volume pv-s',
    );
    await expectStatus(
      client.node.NodePublishVolume({ volume_id: 'pv-other', staging_target_path: staging('pv-s'), target_path: join(sandbox.pods, 'pod-s', 'other'), volume_capability: capability }),
      status.FAILED_PRECONDITION,
      '(volume pv-s is)',
    );
    for (const path of [staging('pv-s'), target('pod-s', 'pv-s')]) {
      await expectStatus(client.node.NodeGetVolumeStats({ volume_id: 'pv-other', volume_path: path }), status.NOT_FOUND, 'volume pv-other is not staged or published');
      expect((await client.node.NodeGetVolumeStats({ volume_id: 'pv-s', volume_path: path })).volume_condition).toEqual({ abnormal: false, message: 'the volume answers' });
    }
    await expectStatus(client.node.NodeUnpublishVolume({ volume_id: 'pv-other', target_path: target('pod-s', 'pv-s') }), status.NOT_FOUND, 'left alone');
    await expectStatus(client.node.NodeUnstageVolume({ volume_id: 'pv-other', staging_target_path: staging('pv-s') }), status.NOT_FOUND, 'left alone');
    expect((await mountsUnder(sandbox.dir)).map((m) => m.mountPoint)).toEqual(expect.arrayContaining([staging('pv-s'), target('pod-s', 'pv-s')]));
    await client.node.NodeUnpublishVolume({ volume_id: 'pv-s', target_path: target('pod-s', 'pv-s') });

    // A bind whose `ro` step never ran (the plugin died between the two, after noting its intent):
    // the retry makes it read-only and drops the note.
    const intents = new ReadOnlyIntents(join(sandbox.root, '_csi-read-only'));
    await intents.note(target('pod-s', 'pv-s'));
    await mkdir(target('pod-s', 'pv-s'));
    await execa('mount', ['--bind', staging('pv-s'), target('pod-s', 'pv-s')]);
    await publish('pv-s', 'pod-s', { readonly: true });
    await expect(writeFile(join(target('pod-s', 'pv-s'), 'nope.txt'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
    expect(await intents.has(target('pod-s', 'pv-s'))).toBe(false);
    await client.node.NodeUnpublishVolume({ volume_id: 'pv-s', target_path: target('pod-s', 'pv-s') });

    // Someone else's mount at the target: refused and left alone.
    await mkdir(target('pod-s', 'pv-s'));
    await execa('mount', ['--bind', join(sandbox.source, 'd003'), target('pod-s', 'pv-s')]);
    await expectStatus(publish('pv-s', 'pod-s'), status.ALREADY_EXISTS, 'a mount point of something other than this volume');
    expect(await readFile(join(target('pod-s', 'pv-s'), 'data.txt'), 'utf8')).toBe('contents of d003\n');
    await execa('umount', [target('pod-s', 'pv-s')]);
    await client.node.NodeUnpublishVolume({ volume_id: 'pv-s', target_path: target('pod-s', 'pv-s') });
    await client.node.NodeUnstageVolume({ volume_id: 'pv-s', staging_target_path: staging('pv-s') });
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
  });

  it('NodeUnstageVolume removes a staging mount it has no record of, as NodeUnpublishVolume does', async () => {
    await kubeletDirs('pv-u');
    const mountedAt = async (path: string) => (await mountsUnder(sandbox.dir)).filter((m) => m.mountPoint === path).length;
    // Nothing recorded: a mount of the volume's directory that landed after its reference went.
    await execa('mount', ['--bind', join(sandbox.source, 'd001'), staging('pv-u')]);
    await client.node.NodeUnstageVolume({ volume_id: 'pv-u', staging_target_path: staging('pv-u') });
    expect(await mountedAt(staging('pv-u'))).toBe(0);
    // Staged, with a mount stacked on its publication: both go, and so does the share.
    await stage('pv-u', 'd002');
    await execa('mount', ['--bind', join(sandbox.source, 'd003'), staging('pv-u')]);
    expect(await mountedAt(staging('pv-u'))).toBe(2);
    await client.node.NodeUnstageVolume({ volume_id: 'pv-u', staging_target_path: staging('pv-u') });
    expect(await mountedAt(staging('pv-u'))).toBe(0);
    expect(await shareMounts()).toEqual([]);
    expect(await readFile(join(sandbox.source, 'd003', 'data.txt'), 'utf8')).toBe('contents of d003\n');
  });

  it('a target published writable and asked read-only is ALREADY_EXISTS and stays writable, as the spec says', async () => {
    await kubeletDirs('pv-ro', 'pod-w');
    await mkdir(join(target('pod-c', 'pv-ro'), '..'), { recursive: true });
    await stage('pv-ro', 'd001');
    await publish('pv-ro', 'pod-w');
    await expectStatus(publish('pv-ro', 'pod-w', { readonly: true }), status.ALREADY_EXISTS, 'is published writable; unpublish it before publishing it read-only');
    await writeFile(join(target('pod-w', 'pv-ro'), 'still-writable'), 'yes');
    // A read-only publish that finishes leaves no note of its intent behind.
    const intents = new ReadOnlyIntents(join(sandbox.root, '_csi-read-only'));
    await publish('pv-ro', 'pod-c', { readonly: true });
    expect(await intents.has(target('pod-c', 'pv-ro'))).toBe(false);
    // A note left by a read-only attempt that failed never makes a writable publication read-only:
    // the writable publish drops it.
    await intents.note(target('pod-w', 'pv-ro'));
    await publish('pv-ro', 'pod-w');
    expect(await intents.has(target('pod-w', 'pv-ro'))).toBe(false);
    await expectStatus(publish('pv-ro', 'pod-w', { readonly: true }), status.ALREADY_EXISTS, 'is published writable');
    await writeFile(join(target('pod-w', 'pv-ro'), 'still-writable'), 'yes');

    for (const pod of ['pod-w', 'pod-c']) await client.node.NodeUnpublishVolume({ volume_id: 'pv-ro', target_path: target(pod, 'pv-ro') });
    await client.node.NodeUnstageVolume({ volume_id: 'pv-ro', staging_target_path: staging('pv-ro') });
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
  });

  it('a volume staged read-only publishes read-only, and a repeat of the same writable publish succeeds again', async () => {
    await kubeletDirs('pv-rs', 'pod-r');
    await client.node.NodeStageVolume({ volume_id: 'pv-rs', staging_target_path: staging('pv-rs'), volume_capability: mountCapability(), volume_context: context('d002', { readOnly: 'true' }) });
    await publish('pv-rs', 'pod-r');
    await publish('pv-rs', 'pod-r'); // kubelet repeats a publish after a restart
    await expect(writeFile(join(target('pod-r', 'pv-rs'), 'x'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
    await client.node.NodeUnpublishVolume({ volume_id: 'pv-rs', target_path: target('pod-r', 'pv-rs') });
    await client.node.NodeUnstageVolume({ volume_id: 'pv-rs', staging_target_path: staging('pv-rs') });
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
  });

  it('a SINGLE_NODE_SINGLE_WRITER volume is published at one target at a time; SINGLE_NODE_MULTI_WRITER at many', async () => {
    await kubeletDirs('pv-one', 'pod-1');
    await mkdir(join(target('pod-2', 'pv-one'), '..'), { recursive: true });
    const single = mountCapability('SINGLE_NODE_SINGLE_WRITER');
    await stage('pv-one', 'd002', { volume_capability: single });
    await publish('pv-one', 'pod-1', { volume_capability: single });
    await publish('pv-one', 'pod-1', { volume_capability: single }); // a repeat
    await expectStatus(publish('pv-one', 'pod-2', { volume_capability: single }), status.FAILED_PRECONDITION, `already published at ${target('pod-1', 'pv-one')}`);
    expect((await mountsUnder(sandbox.pods)).map((m) => m.mountPoint)).toEqual([target('pod-1', 'pv-one')]);
    // One writer: a read-only second publication is no second writer.
    await publish('pv-one', 'pod-2', { volume_capability: single, readonly: true });
    await client.node.NodeUnpublishVolume({ volume_id: 'pv-one', target_path: target('pod-2', 'pv-one') });
    await client.node.NodeUnpublishVolume({ volume_id: 'pv-one', target_path: target('pod-1', 'pv-one') });
    await publish('pv-one', 'pod-2', { volume_capability: single });
    // The same volume asked as multi-writer takes a second target.
    await publish('pv-one', 'pod-1', { volume_capability: mountCapability('SINGLE_NODE_MULTI_WRITER') });
    expect(await mountsUnder(sandbox.pods)).toHaveLength(2);
    for (const pod of ['pod-1', 'pod-2']) await client.node.NodeUnpublishVolume({ volume_id: 'pv-one', target_path: target(pod, 'pv-one') });
    await client.node.NodeUnstageVolume({ volume_id: 'pv-one', staging_target_path: staging('pv-one') });
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
  });

  it('a plugin started again on the same root finds its volumes staged, and a live socket is not taken over', async () => {
    await kubeletDirs('pv-k', 'pod-k');
    await stage('pv-k', 'd000');
    const second = createCsiPlugin({ name: 'second.example.com', vendorVersion: '1', nodeId: 'node-1', endpoint: socketPath, backends: [bindBackend({ allowedPaths: ['/'] })], root: sandbox.root, logger });
    await expect(second.start()).rejects.toMatchObject({ code: 'ALREADY_EXISTS', message: expect.stringContaining('another process is listening') });

    client.close();
    await plugin.stop();
    plugin = createCsiPlugin({ name: 'sharemount.example.com', vendorVersion: '0.1.0', nodeId: 'node-1', endpoint: `unix://${socketPath}`, backends: [bindBackend({ allowedPaths: ['/'] })], root: sandbox.root, logger });
    await plugin.start();
    client = await csiClient(socketPath);
    await publish('pv-k', 'pod-k');
    expect(await readFile(join(target('pod-k', 'pv-k'), 'data.txt'), 'utf8')).toBe('contents of d000\n');
    await client.node.NodeUnpublishVolume({ volume_id: 'pv-k', target_path: target('pod-k', 'pv-k') });
    await client.node.NodeUnstageVolume({ volume_id: 'pv-k', staging_target_path: staging('pv-k') });
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
  });

  it('replaces a stale socket left by a dead plugin, and refuses to replace a file that is not a socket', async () => {
    const stalePath = join(sandbox.dir, 'stale.sock');
    // A process that bound the socket and died: the file stays, nothing answers on it.
    await execa('python3', ['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', stalePath]);
    expect((await lstat(stalePath)).isSocket()).toBe(true);
    const options = { name: 'stale.example.com', vendorVersion: '1', nodeId: 'node-1', backends: [bindBackend({ allowedPaths: ['/'] })], root: sandbox.root, logger };
    const onStale = createCsiPlugin({ ...options, endpoint: stalePath });
    await onStale.start();
    const staleClient = await csiClient(stalePath);
    expect(await staleClient.identity.GetPluginInfo({})).toMatchObject({ name: 'stale.example.com' });
    staleClient.close();
    await onStale.stop();
    await expect(lstat(stalePath)).rejects.toMatchObject({ code: 'ENOENT' });

    await writeFile(join(sandbox.dir, 'not-a-socket'), 'data');
    const onFile = createCsiPlugin({ ...options, endpoint: join(sandbox.dir, 'not-a-socket') });
    await expect(onFile.start()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'endpoint' });
    expect(await readFile(join(sandbox.dir, 'not-a-socket'), 'utf8')).toBe('data');
  });
});
