/**
 * The CSI Controller service on the bind backend's provisioning (host sub-directories), called
 * over real gRPC: create, validate, capacity and delete as the CSI spec and its conformance
 * suite expect, and a created volume staged and published by the same plugin's Node service.
 */
import { lstat, mkdir, readFile, readdir, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BindProvisioner } from '../../src/backends/bind/provisioning.js';
import { run } from '../../src/exec.js';
import { bindBackend, directoryOf } from '../../src/backends/bind.js';
import { silentLogger } from '../../src/logger.js';
import { mountCapability, startPlugin, type CsiClient } from '../helpers/csi-client.js';
import { expectStatus } from '../helpers/csi-expect.js';
import { createSandbox, mountsUnder, skipUnlessReady, type Sandbox } from '../helpers/sandbox.js';

const skip = skipUnlessReady();
const topologyKey = 'prov.example.com/node';

describe.skipIf(skip)('csi: the Controller service on host-directory provisioning', () => {
  let sandbox: Sandbox;
  let client: CsiClient;
  let close: (() => Promise<void>) | undefined;
  let volumes: string;
  const caps = [mountCapability()];
  const create = (name: string, extra: Record<string, unknown> = {}) => client.controller.CreateVolume({ name, volume_capabilities: caps, parameters: { path: volumes }, ...extra });

  beforeAll(async () => {
    sandbox = await createSandbox('sharemount-csi-controller-');
    volumes = join(sandbox.dir, 'volumes');
    await mkdir(volumes);
    ({ client, close } = await startPlugin({
      name: 'prov.example.com',
      vendorVersion: '1',
      nodeId: 'node-1',
      endpoint: join(sandbox.dir, 'csi.sock'),
      backends: [bindBackend({ provisioning: { root: volumes, onDelete: 'delete' } })],
      root: sandbox.root,
      logger: silentLogger,
    }));
  });

  afterAll(async () => {
    await close?.();
    await sandbox?.cleanup();
  });

  it('advertises the Controller service, its calls, and the node topology its volumes need', async () => {
    const plugin = (await client.identity.GetPluginCapabilities({})).capabilities;
    expect(plugin.filter((c: { type: string }) => c.type === 'service').map((c: { service: { type: string } }) => c.service.type).sort()).toEqual(['CONTROLLER_SERVICE', 'VOLUME_ACCESSIBILITY_CONSTRAINTS']);
    expect(plugin.filter((c: { type: string }) => c.type === 'volume_expansion')).toEqual([{ type: 'volume_expansion', volume_expansion: { type: 'ONLINE' } }]);
    const controller = (await client.controller.ControllerGetCapabilities({})).capabilities.map((c: { rpc: { type: string } }) => c.rpc.type);
    expect(controller.sort()).toEqual(['CLONE_VOLUME', 'CREATE_DELETE_SNAPSHOT', 'CREATE_DELETE_VOLUME', 'EXPAND_VOLUME', 'GET_CAPACITY', 'LIST_SNAPSHOTS', 'LIST_VOLUMES', 'SINGLE_NODE_MULTI_WRITER']);
    expect((await client.node.NodeGetInfo({})).accessible_topology).toEqual({ segments: { [topologyKey]: 'node-1' } });
  });

  it('creates a directory per volume, idempotently by name and size range, and refuses a size it does not fit', async () => {
    const first = (await create('pvc-1', { capacity_range: { required_bytes: 2 ** 30 } })).volume;
    expect(first).toMatchObject({ volume_id: 'bind:pvc-1', capacity_bytes: 2 ** 30, volume_context: { path: volumes, subPath: 'pvc-1' }, accessible_topology: [{ segments: { [topologyKey]: 'node-1' } }] });
    expect((await stat(join(volumes, 'pvc-1'))).mode & 0o7777).toBe(0o777);
    expect((await create('pvc-1', { capacity_range: { required_bytes: 2 ** 30 } })).volume.volume_id).toBe('bind:pvc-1');
    await expectStatus(create('pvc-1', { capacity_range: { required_bytes: 2 * 2 ** 30, limit_bytes: 2 * 2 ** 30 } }), status.ALREADY_EXISTS, 'exists with 1073741824 bytes');
    // Compatible is enough (CSI): a smaller size asked, or none, is the same volume with its size.
    for (const capacity_range of [{ required_bytes: 2 ** 29 }, { limit_bytes: 2 ** 30 }, null]) {
      expect((await create('pvc-1', { capacity_range })).volume).toMatchObject({ volume_id: 'bind:pvc-1', capacity_bytes: 2 ** 30 });
    }
    await expectStatus(create('pvc-1', { capacity_range: { required_bytes: 2 ** 29, limit_bytes: 2 ** 29 } }), status.ALREADY_EXISTS, 'more than the limit of 536870912');
    // Its directory removed by hand: a repeat makes it again, for the volume its record holds.
    await rm(join(volumes, 'pvc-1'), { recursive: true });
    expect((await create('pvc-1', { capacity_range: { required_bytes: 2 ** 30 } })).volume.volume_id).toBe('bind:pvc-1');
    expect((await stat(join(volumes, 'pvc-1'))).isDirectory()).toBe(true);
    // A 128-character name with characters no path should hold: a short, safe directory.
    const long = `sanity/../${'ü'.repeat(20)}${'x'.repeat(78)}`;
    expect(Buffer.byteLength(long)).toBe(128);
    const odd = (await create(long)).volume;
    expect(odd.volume_id).toBe(`bind:${directoryOf(long)}`);
    expect(Buffer.byteLength(odd.volume_id)).toBeLessThanOrEqual(128);
    expect((await readdir(volumes)).filter((entry) => !entry.startsWith('.')).sort()).toEqual([directoryOf(long), 'pvc-1'].sort());
    for (const id of ['bind:pvc-1', odd.volume_id]) await client.controller.DeleteVolume({ volume_id: id });
  });

  it('refuses a bad request by field, with nothing made', async () => {
    const before = await readdir(volumes);
    await expectStatus(client.controller.CreateVolume({ volume_capabilities: caps, parameters: { path: volumes } }), status.INVALID_ARGUMENT, 'name: is required');
    await expectStatus(client.controller.CreateVolume({ name: 'x', parameters: { path: volumes } }), status.INVALID_ARGUMENT, 'volume_capabilities: is required');
    await expectStatus(create('x', { volume_capabilities: [{ block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] }), status.INVALID_ARGUMENT, 'volume_capabilities[0].block');
    await expectStatus(create('x', { parameters: { path: '/etc' } }), status.INVALID_ARGUMENT, `parameters.path: must be ${volumes}`);
    await expectStatus(create('x', { parameters: { path: volumes, colour: 'blue' } }), status.INVALID_ARGUMENT, 'parameters.colour');
    // What only a publication would use is refused, not dropped: a class's readOnly would make writable volumes.
    for (const [key, value] of [['readOnly', 'true'], ['mountOptions', 'bind,remount'], ['createMode', '0700'], ['createIfNecessary', 'true']] as const) {
      await expectStatus(create('x', { parameters: { path: volumes, [key]: value } }), status.INVALID_ARGUMENT, `parameters.${key}: is not for creating volumes`);
    }
    await expectStatus(create('x', { capacity_range: { required_bytes: 10, limit_bytes: 5 } }), status.INVALID_ARGUMENT, 'capacity_range');
    await expectStatus(create('x', { volume_content_source: { snapshot: { snapshot_id: 's' } } }), status.NOT_FOUND, 'volume_content_source.snapshot.snapshot_id: no snapshot s');
    await expectStatus(create('x', { volume_content_source: { snapshot: { snapshot_id: '' } } }), status.INVALID_ARGUMENT, 'volume_content_source.snapshot.snapshot_id: is required');
    await expectStatus(create('x', { accessibility_requirements: { requisite: [{ segments: { [topologyKey]: 'node-2' } }] } }), status.RESOURCE_EXHAUSTED, 'this node only');
    // Host directories live on one node: no mode that spans nodes.
    await expectStatus(create('x', { volume_capabilities: [mountCapability('MULTI_NODE_MULTI_WRITER')] }), status.INVALID_ARGUMENT, 'volume_capabilities[0].access_mode.mode: MULTI_NODE_MULTI_WRITER is not possible: bind volumes live on one node');
    expect(await readdir(volumes)).toEqual(before);
  });

  it('validates capabilities of volumes that exist, and says NOT_FOUND for others', async () => {
    await create('pvc-v');
    expect((await client.controller.ValidateVolumeCapabilities({ volume_id: 'bind:pvc-v', volume_capabilities: caps })).confirmed.volume_capabilities).toHaveLength(1);
    const block = await client.controller.ValidateVolumeCapabilities({ volume_id: 'bind:pvc-v', volume_capabilities: [{ block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] });
    expect(block.confirmed).toBeNull();
    expect(block.message).toContain('volume_capabilities[0].block: block volumes are not served by backend bind');
    const multiNode = await client.controller.ValidateVolumeCapabilities({ volume_id: 'bind:pvc-v', volume_capabilities: [...caps, mountCapability('MULTI_NODE_READER_ONLY')] });
    expect(multiNode).toMatchObject({ confirmed: null, message: expect.stringContaining('volume_capabilities[1].access_mode.mode: MULTI_NODE_READER_ONLY is not possible') });
    await expectStatus(client.controller.ValidateVolumeCapabilities({ volume_id: 'bind:pvc-v' }), status.INVALID_ARGUMENT, 'volume_capabilities: is required');
    await expectStatus(client.controller.ValidateVolumeCapabilities({ volume_id: 'bind:nothing', volume_capabilities: caps }), status.NOT_FOUND, 'no volume');
    await expectStatus(client.controller.ValidateVolumeCapabilities({ volume_id: 'fake-vol-id', volume_capabilities: caps }), status.NOT_FOUND, 'no volume');
    await client.controller.DeleteVolume({ volume_id: 'bind:pvc-v' });
  });

  it('grows a node-local volume on its node: the controller asks for node expansion, NodeExpandVolume records the size (never smaller)', async () => {
    expect((await client.node.NodeGetCapabilities({})).capabilities.map((c: { rpc: { type: string } }) => c.rpc.type)).toContain('EXPAND_VOLUME');
    const { volume } = await create('pvc-grow', { capacity_range: { required_bytes: 2 ** 30 } });
    expect(await client.controller.ControllerExpandVolume({ volume_id: volume.volume_id, capacity_range: { required_bytes: 2 * 2 ** 30 } })).toEqual({ capacity_bytes: 2 * 2 ** 30, node_expansion_required: true });
    // Asked for less than it has, it answers what it has: volumes never shrink.
    expect(await client.controller.ControllerExpandVolume({ volume_id: volume.volume_id, capacity_range: { required_bytes: 1 } })).toEqual({ capacity_bytes: 2 ** 30, node_expansion_required: true });
    await expectStatus(client.controller.ControllerExpandVolume({ volume_id: volume.volume_id }), status.INVALID_ARGUMENT, 'capacity_range: is required');
    await expectStatus(client.controller.ControllerExpandVolume({ capacity_range: { required_bytes: 1 } }), status.INVALID_ARGUMENT, 'volume_id: is required');
    for (const id of ['bind:nothing', 'fake-vol-id']) await expectStatus(client.controller.ControllerExpandVolume({ volume_id: id, capacity_range: { required_bytes: 1 } }), status.NOT_FOUND, 'no volume');

    const staging = join(sandbox.dir, 'staging-grow');
    await mkdir(staging);
    await client.node.NodeStageVolume({ volume_id: volume.volume_id, staging_target_path: staging, volume_capability: caps[0], volume_context: volume.volume_context });
    expect(await client.node.NodeExpandVolume({ volume_id: volume.volume_id, volume_path: staging, capacity_range: { required_bytes: 2 * 2 ** 30 } })).toEqual({ capacity_bytes: 2 * 2 ** 30 });
    expect((await client.node.NodeExpandVolume({ volume_id: volume.volume_id, volume_path: staging, capacity_range: { required_bytes: 2 ** 20 } })).capacity_bytes).toBe(2 * 2 ** 30);
    await expectStatus(client.node.NodeExpandVolume({ volume_id: volume.volume_id }), status.INVALID_ARGUMENT, 'volume_path: is required');
    await expectStatus(client.node.NodeExpandVolume({ volume_id: 'fake-vol-id', volume_path: 'some/path' }), status.NOT_FOUND, 'no volume');
    await expectStatus(client.node.NodeExpandVolume({ volume_id: volume.volume_id, volume_path: join(sandbox.dir, 'elsewhere') }), status.NOT_FOUND, 'volume_path');
    await client.node.NodeUnstageVolume({ volume_id: volume.volume_id, staging_target_path: staging });
    await client.controller.DeleteVolume({ volume_id: volume.volume_id });
  });

  it('reports the free space where volumes go, and none for another node', async () => {
    expect((await client.controller.GetCapacity({})).available_capacity).toBeGreaterThan(0);
    expect((await client.controller.GetCapacity({ accessible_topology: { segments: { [topologyKey]: 'node-2' } } })).available_capacity).toBe(0);
  });

  it('a created volume stages and publishes; deleting it is refused while mounted, then removes it; deleting what is not there succeeds', async () => {
    const { volume } = await create('pvc-flow');
    const staging = join(sandbox.dir, 'staging');
    const target = join(sandbox.pods, 'pod', 'mount');
    await mkdir(staging);
    await mkdir(join(sandbox.pods, 'pod'));
    await client.node.NodeStageVolume({ volume_id: volume.volume_id, staging_target_path: staging, volume_capability: caps[0], volume_context: volume.volume_context });
    await client.node.NodePublishVolume({ volume_id: volume.volume_id, staging_target_path: staging, target_path: target, volume_capability: caps[0], volume_context: volume.volume_context });
    await writeFile(join(target, 'data.txt'), 'kept');
    expect(await readFile(join(volumes, 'pvc-flow', 'data.txt'), 'utf8')).toBe('kept');

    await expectStatus(client.controller.DeleteVolume({ volume_id: volume.volume_id }), status.FAILED_PRECONDITION, 'still mounted');
    expect(await readFile(join(volumes, 'pvc-flow', 'data.txt'), 'utf8')).toBe('kept');

    await client.node.NodeUnpublishVolume({ volume_id: volume.volume_id, target_path: target });
    await client.node.NodeUnstageVolume({ volume_id: volume.volume_id, staging_target_path: staging });
    await client.controller.DeleteVolume({ volume_id: volume.volume_id });
    await expect(lstat(join(volumes, 'pvc-flow'))).rejects.toMatchObject({ code: 'ENOENT' });
    for (const id of [volume.volume_id, 'reallyfakevolumeid', 'bind:never-made', 'lvm:vg/lv']) await client.controller.DeleteVolume({ volume_id: id });
    await expectStatus(client.controller.DeleteVolume({}), status.INVALID_ARGUMENT, 'volume_id: is required');
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
  });

  it('never takes over a directory it did not make (unless told to adopt), and refuses a records directory swapped for a symlink', async () => {
    await mkdir(join(volumes, 'admin-data'));
    await writeFile(join(volumes, 'admin-data', 'file'), 'precious');
    await expectStatus(create('admin-data'), status.ALREADY_EXISTS, 'this provisioner did not make it');
    expect(await readdir(join(volumes, '.sharemount-volumes'))).not.toContain('admin-data.json');
    const adopting = new BindProvisioner({ root: volumes, adoptUnrecorded: true });
    expect(await adopting.createVolume({ name: 'admin-data', parameters: { path: volumes } })).toMatchObject({ volumeId: 'admin-data' });
    expect(await readFile(join(volumes, 'admin-data', 'file'), 'utf8')).toBe('precious');

    // A consumer that could reach the records (were the root published) swaps them for a link.
    const elsewhere = join(sandbox.dir, 'elsewhere');
    await mkdir(elsewhere);
    await rename(join(volumes, '.sharemount-volumes'), join(volumes, 'records-moved'));
    await symlink(elsewhere, join(volumes, '.sharemount-volumes'));
    try {
      await expectStatus(create('pvc-through-link'), status.FAILED_PRECONDITION, 'is a symlink; refusing to read or write volume records through it');
      expect(await readdir(elsewhere)).toEqual([]);
      await expect(lstat(join(volumes, 'pvc-through-link'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await unlink(join(volumes, '.sharemount-volumes'));
      await rename(join(volumes, 'records-moved'), join(volumes, '.sharemount-volumes'));
    }
  });

  it('does not stage the provisioning root itself, or its records, as a volume', async () => {
    const staging = join(sandbox.dir, 'staging-root');
    await mkdir(staging);
    const alias = join(sandbox.dir, 'volumes-alias'); // another spelling of the root
    await symlink(volumes, alias);
    const records = join(volumes, '.sharemount-volumes');
    const above = [dirname(volumes), basename(volumes)] as const;
    const bound = join(sandbox.dir, 'volumes-bound'); // the root by another path: a bind mount of it
    await mkdir(bound);
    await execa('mount', ['--bind', volumes, bound]);
    for (const [path, subPath, message] of [
      [bound, '', 'itself, or a directory above it, is no one volume'],
      [bound, '.sharemount-volumes', "the provisioner's records"],
      [join(bound, '.sharemount-volumes'), '', "the provisioner's records"],
      [volumes, '', 'itself, or a directory above it, is no one volume'],
      [alias, '', 'itself, or a directory above it, is no one volume'],
      [above[0], above[1], 'itself, or a directory above it, is no one volume'],
      [above[0], '', 'itself, or a directory above it, is no one volume'],
      [volumes, '.sharemount-volumes', "the provisioner's records"],
      [alias, './.sharemount-volumes/x', "the provisioner's records"],
      [records, '', "the provisioner's records"],
      [above[0], `${above[1]}/.sharemount-volumes`, "the provisioner's records"],
    ] as const) {
      await expectStatus(
        client.node.NodeStageVolume({ volume_id: 'bind:static', staging_target_path: staging, volume_capability: caps[0], volume_context: { path, subPath } }),
        status.INVALID_ARGUMENT,
        message,
      );
    }
    await unlink(alias);
    await execa('umount', [bound]);
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
  });

  it('keeps the data under retain (the default) and renames it under archive; refuses either while the volume is mounted', async () => {
    for (const onDelete of ['retain', 'archive'] as const) {
      const root = join(sandbox.dir, `volumes-${onDelete}`);
      await mkdir(root);
      const provisioner = new BindProvisioner({ root, ...(onDelete === 'retain' ? {} : { onDelete }) });
      await provisioner.createVolume({ name: 'pvc-k', parameters: { path: root } });
      await writeFile(join(root, 'pvc-k', 'data.txt'), onDelete);
      // A pod still uses it: even retain keeps its record, or a new pvc-k would take it over.
      const inUse = join(sandbox.dir, `in-use-${onDelete}`);
      await mkdir(inUse);
      await run('mount', ['--bind', '--', join(root, 'pvc-k'), inUse], { timeoutMs: 10_000 });
      await expect(provisioner.deleteVolume('pvc-k')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringContaining('still mounted') });
      expect(await provisioner.describeVolume('pvc-k')).toBeDefined();
      await run('umount', ['--', inUse], { timeoutMs: 10_000 });
      await provisioner.deleteVolume('pvc-k');
      expect(await provisioner.describeVolume('pvc-k')).toBeUndefined();
      const kept = onDelete === 'retain' ? 'pvc-k' : 'archived-pvc-k';
      expect(await readFile(join(root, kept, 'data.txt'), 'utf8')).toBe(onDelete);
      // A retained directory is still this provisioner's: the next volume of its name takes it.
      if (onDelete === 'retain') {
        await provisioner.deleteVolume('pvc-k'); // a repeat touches nothing
        expect(await provisioner.createVolume({ name: 'pvc-k', parameters: { path: root } })).toMatchObject({ volumeId: 'pvc-k' });
        expect(await readFile(join(root, 'pvc-k', 'data.txt'), 'utf8')).toBe('retain');
      }
    }
  });

  it('deletes only what it made: a directory of the root with no record is left alone under every policy', async () => {
    const root = join(sandbox.dir, 'volumes-unrecorded');
    await mkdir(join(root, 'operators-own'), { recursive: true });
    await writeFile(join(root, 'operators-own', 'data.txt'), 'precious');
    for (const onDelete of ['delete', 'archive', 'retain'] as const) {
      await new BindProvisioner({ root, onDelete }).deleteVolume('operators-own');
      expect(await readFile(join(root, 'operators-own', 'data.txt'), 'utf8')).toBe('precious');
    }
    expect(await readdir(root)).toEqual(['operators-own']);
  });
});
