/**
 * CSI snapshots, clones and listings on the bind backend's provisioning, case by case from the
 * spec (../shared/protocols/csi.md), through a real gRPC client on the plugin's unix socket:
 * CreateSnapshot / DeleteSnapshot / ListSnapshots, CreateVolume from a snapshot and from a
 * volume, ListVolumes. Copies are checked file by file (modes, owners, times, links, special
 * files), hostile trees are copied without following a symlink or reading a device.
 */
import { mkdir, readFile, readdir, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindBackend } from '../../src/backends/bind.js';
import { silentLogger } from '../../src/logger.js';
import { copyTree } from '../../src/snapshots/copy-tree.js';
import { mountCapability, startPlugin, type CsiClient } from '../helpers/csi-client.js';
import { expectStatus } from '../helpers/csi-expect.js';
import { createSandbox, mountsUnder, skipUnlessReady, type Sandbox } from '../helpers/sandbox.js';
import { describeTree, writeHostileTree, writeManyFiles } from '../helpers/tree.js';

const skip = skipUnlessReady();
const MiB = 1024 ** 2;

describe.skipIf(skip)('csi: snapshots, clones and listings of bind volumes', () => {
  let sandbox: Sandbox;
  let client: CsiClient;
  let close: (() => Promise<void>) | undefined;
  let volumesRoot: string;
  const parameters = () => ({ path: volumesRoot });
  type Volume = { volume_id: string; capacity_bytes: number; volume_context: Record<string, string>; content_source?: unknown };
  const createVolume = async (name: string, extra: object = {}): Promise<Volume> =>
    (await client.controller.CreateVolume({ name, volume_capabilities: [mountCapability()], capacity_range: { required_bytes: 8 * MiB }, parameters: parameters(), ...extra })).volume;
  const dirOf = (volume: Volume) => join(volumesRoot, volume.volume_context.subPath!);

  beforeAll(async () => {
    sandbox = await createSandbox('sharemount-csi-snapshots-');
    volumesRoot = join(sandbox.dir, 'volumes');
    ({ client, close } = await startPlugin({
      name: 'snap.example.com', vendorVersion: '1', nodeId: 'node-1', endpoint: join(sandbox.dir, 'csi.sock'), root: sandbox.root, logger: silentLogger,
      backends: [bindBackend({ provisioning: { root: volumesRoot, onDelete: 'delete', copyWorkDir: join(sandbox.dir, 'copies') } })],
    }));
  });

  afterAll(async () => {
    await close?.();
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
    await sandbox?.cleanup();
  });

  it('advertises CREATE_DELETE_SNAPSHOT, LIST_SNAPSHOTS, CLONE_VOLUME and LIST_VOLUMES', async () => {
    const types = (await client.controller.ControllerGetCapabilities({})).capabilities.map((c: { rpc: { type: string } }) => c.rpc.type);
    expect(types).toEqual(expect.arrayContaining(['CREATE_DELETE_VOLUME', 'CREATE_DELETE_SNAPSHOT', 'LIST_SNAPSHOTS', 'CLONE_VOLUME', 'LIST_VOLUMES']));
    expect(types).not.toContain('LIST_VOLUMES_PUBLISHED_NODES');
  });

  it('CreateSnapshot: INVALID_ARGUMENT without name or source, NOT_FOUND for an unknown source, an unknown parameter refused by name', async () => {
    const volume = await createVolume('snap-args');
    await expectStatus(client.controller.CreateSnapshot({ source_volume_id: volume.volume_id }), status.INVALID_ARGUMENT, 'name');
    await expectStatus(client.controller.CreateSnapshot({ name: 'x' }), status.INVALID_ARGUMENT, 'source_volume_id');
    await expectStatus(client.controller.CreateSnapshot({ name: 'x', source_volume_id: 'bind:no-such-volume' }), status.NOT_FOUND, 'no volume');
    await expectStatus(client.controller.CreateSnapshot({ name: 'x', source_volume_id: 'never-made-by-us' }), status.NOT_FOUND, 'no volume');
    await expectStatus(client.controller.CreateSnapshot({ name: 'x', source_volume_id: volume.volume_id, parameters: { colour: 'red' } }), status.INVALID_ARGUMENT, 'parameters.colour');
    await expectStatus(client.controller.CreateSnapshot({ name: 'n'.repeat(129), source_volume_id: volume.volume_id }), status.INVALID_ARGUMENT, 'name: must be at most 128 bytes');
    await expectStatus(client.controller.DeleteSnapshot({}), status.INVALID_ARGUMENT, 'snapshot_id');
    // A 128-character name of any characters gets a snapshot id within 128 bytes.
    const long = (await client.controller.CreateSnapshot({ name: `ß ${'ä'.repeat(62)}`, source_volume_id: volume.volume_id })).snapshot;
    expect(Buffer.byteLength(long.snapshot_id)).toBeLessThanOrEqual(128);
    await client.controller.DeleteSnapshot({ snapshot_id: long.snapshot_id });
    // The CO's own metadata keys are no parameters of ours: ignored.
    const { snapshot } = await client.controller.CreateSnapshot({ name: 'x', source_volume_id: volume.volume_id, parameters: { 'csi.storage.k8s.io/volumesnapshot/name': 'vs' } });
    expect(snapshot.ready_to_use).toBe(true);
    await client.controller.DeleteSnapshot({ snapshot_id: snapshot.snapshot_id });
    await client.controller.DeleteVolume({ volume_id: volume.volume_id });
  });

  it('a snapshot is a copy file by file (modes, owners, times, hard links, symlinks as symlinks, special files as nodes); idempotent by name; the same name with another source ALREADY_EXISTS', async () => {
    const volume = await createVolume('snap-source');
    await writeHostileTree(dirOf(volume));
    const before = await describeTree(dirOf(volume));
    const request = { name: 'snap-1', source_volume_id: volume.volume_id };
    const startedAt = Date.now();
    const { snapshot } = await client.controller.CreateSnapshot(request);
    expect(snapshot).toMatchObject({ source_volume_id: volume.volume_id, size_bytes: 8 * MiB, ready_to_use: true });
    expect(Buffer.byteLength(snapshot.snapshot_id)).toBeLessThanOrEqual(128);
    const created = Number(snapshot.creation_time.seconds) * 1000 + snapshot.creation_time.nanos / 1e6;
    expect(created).toBeGreaterThanOrEqual(startedAt - 1000);
    expect(created).toBeLessThanOrEqual(Date.now());
    expect((await client.controller.CreateSnapshot(request)).snapshot).toEqual(snapshot);

    const copy = join(volumesRoot, '.sharemount-snapshots', snapshot.snapshot_id.slice('bind:'.length));
    expect(await describeTree(copy)).toEqual(before);
    // The source is untouched, and nothing was read through a link or a device.
    expect(await describeTree(dirOf(volume))).toEqual(before);

    const other = await createVolume('snap-other-source');
    await expectStatus(client.controller.CreateSnapshot({ name: 'snap-1', source_volume_id: other.volume_id }), status.ALREADY_EXISTS, 'another source');
    await client.controller.DeleteSnapshot({ snapshot_id: snapshot.snapshot_id });
    await client.controller.DeleteSnapshot({ snapshot_id: snapshot.snapshot_id }); // gone: still a success
    await client.controller.DeleteSnapshot({ snapshot_id: 'bind:never-was' });
    await client.controller.DeleteSnapshot({ snapshot_id: 'not-ours-at-all' });
    for (const v of [volume, other]) await client.controller.DeleteVolume({ volume_id: v.volume_id });
  });

  it('a clone of a snapshot taken before the source changed shows the old content, published through a real mount; a clone of the volume shows the new', async () => {
    const source = await createVolume('clone-source');
    await mkdir(join(dirOf(source), 'docs'));
    await writeFile(join(dirOf(source), 'docs/a.txt'), 'version 1');
    const { snapshot } = await client.controller.CreateSnapshot({ name: 'before-change', source_volume_id: source.volume_id });
    await writeFile(join(dirOf(source), 'docs/a.txt'), 'version 2');
    await writeFile(join(dirOf(source), 'new.txt'), 'added later');
    const now = await describeTree(dirOf(source));

    const fromSnapshot = await createVolume('from-snapshot', { volume_content_source: { snapshot: { snapshot_id: snapshot.snapshot_id } } });
    expect(fromSnapshot.content_source).toEqual({ snapshot: { snapshot_id: snapshot.snapshot_id }, type: 'snapshot' });
    const staging = join(sandbox.dir, 'staging-clone');
    const target = join(sandbox.pods, 'clone-pod', 'mount');
    await mkdir(staging, { recursive: true });
    await mkdir(join(target, '..'), { recursive: true });
    await client.node.NodeStageVolume({ volume_id: fromSnapshot.volume_id, staging_target_path: staging, volume_capability: mountCapability(), volume_context: fromSnapshot.volume_context });
    await client.node.NodePublishVolume({ volume_id: fromSnapshot.volume_id, staging_target_path: staging, target_path: target, volume_capability: mountCapability(), volume_context: fromSnapshot.volume_context });
    try {
      expect(await readFile(join(target, 'docs/a.txt'), 'utf8')).toBe('version 1');
      expect(await readdir(target)).toEqual(['docs']);
    } finally {
      await client.node.NodeUnpublishVolume({ volume_id: fromSnapshot.volume_id, target_path: target });
      await client.node.NodeUnstageVolume({ volume_id: fromSnapshot.volume_id, staging_target_path: staging });
    }

    const fromVolume = await createVolume('from-volume', { volume_content_source: { volume: { volume_id: source.volume_id } } });
    expect(fromVolume.content_source).toEqual({ volume: { volume_id: source.volume_id }, type: 'volume' });
    expect(await describeTree(dirOf(fromVolume))).toEqual(now);
    // Independent copies: writing the clone changes neither its source nor the snapshot.
    await writeFile(join(dirOf(fromVolume), 'docs/a.txt'), 'clone only');
    expect(await readFile(join(dirOf(source), 'docs/a.txt'), 'utf8')).toBe('version 2');
    for (const v of [fromSnapshot, fromVolume, source]) await client.controller.DeleteVolume({ volume_id: v.volume_id });
    await client.controller.DeleteSnapshot({ snapshot_id: snapshot.snapshot_id });
  });

  it('CreateVolume from a source: NOT_FOUND for an unknown one, OUT_OF_RANGE below its size, the size of the source without a range, idempotent, ALREADY_EXISTS for the same name with another source', async () => {
    const source = await createVolume('rules-source');
    await writeFile(join(dirOf(source), 'f'), 'x');
    const { snapshot } = await client.controller.CreateSnapshot({ name: 'rules-snap', source_volume_id: source.volume_id });
    const fromSnapshot = { volume_content_source: { snapshot: { snapshot_id: snapshot.snapshot_id } } };
    await expectStatus(createVolume('r1', { volume_content_source: { snapshot: { snapshot_id: 'bind:no-such-snapshot' } } }), status.NOT_FOUND, 'no snapshot');
    await expectStatus(createVolume('r1', { volume_content_source: { volume: { volume_id: 'bind:no-such-volume' } } }), status.NOT_FOUND, 'no volume');
    await expectStatus(createVolume('r1', { volume_content_source: { snapshot: { snapshot_id: 'elsewhere:x' } } }), status.NOT_FOUND, 'no snapshot');
    await expectStatus(createVolume('r1', { ...fromSnapshot, capacity_range: { required_bytes: 4 * MiB } }), status.OUT_OF_RANGE, 'required_bytes');
    await expectStatus(createVolume('r1', { ...fromSnapshot, capacity_range: { limit_bytes: 4 * MiB } }), status.OUT_OF_RANGE, 'limit_bytes');
    expect(await readdir(volumesRoot)).not.toContain('r1'); // refused before anything was made
    const sized = await createVolume('r1', { ...fromSnapshot, capacity_range: null });
    expect(sized.capacity_bytes).toBe(8 * MiB);
    const larger = await createVolume('r2', { ...fromSnapshot, capacity_range: { required_bytes: 16 * MiB } });
    expect(larger.capacity_bytes).toBe(16 * MiB);
    expect(await createVolume('r2', { ...fromSnapshot, capacity_range: { required_bytes: 16 * MiB } })).toEqual(larger);
    await expectStatus(createVolume('r2', { volume_content_source: { volume: { volume_id: source.volume_id } }, capacity_range: { required_bytes: 16 * MiB } }), status.ALREADY_EXISTS, 'made from snapshot');
    await expectStatus(createVolume('r2', { capacity_range: { required_bytes: 16 * MiB } }), status.ALREADY_EXISTS, 'made from snapshot');
    await expectStatus(createVolume('snap-plain-then-clone', {}).then(() => createVolume('snap-plain-then-clone', fromSnapshot)), status.ALREADY_EXISTS, 'nothing (empty)');
    for (const name of ['r1', 'r2', 'snap-plain-then-clone', 'rules-source']) await client.controller.DeleteVolume({ volume_id: `bind:${name}` });
    await client.controller.DeleteSnapshot({ snapshot_id: snapshot.snapshot_id });
  });

  it('a snapshot outlives its source volume (deleted under the delete policy), and a volume can still be made from it', async () => {
    const source = await createVolume('short-lived');
    await writeFile(join(dirOf(source), 'keep.txt'), 'kept');
    const { snapshot } = await client.controller.CreateSnapshot({ name: 'outlives', source_volume_id: source.volume_id });
    await client.controller.DeleteVolume({ volume_id: source.volume_id });
    expect(await readdir(volumesRoot)).not.toContain('short-lived');
    expect((await client.controller.ListSnapshots({ snapshot_id: snapshot.snapshot_id })).entries.map((e: { snapshot: unknown }) => e.snapshot)).toEqual([snapshot]);
    const restored = await createVolume('restored', { volume_content_source: { snapshot: { snapshot_id: snapshot.snapshot_id } } });
    expect(await readFile(join(dirOf(restored), 'keep.txt'), 'utf8')).toBe('kept');
    await client.controller.DeleteVolume({ volume_id: restored.volume_id });
    await client.controller.DeleteSnapshot({ snapshot_id: snapshot.snapshot_id });
  });

  it('ListSnapshots: all, by id, by source, empty for filters that match nothing, paged with max_entries, ABORTED for an invalid token, INVALID_ARGUMENT for negative max_entries', async () => {
    const a = await createVolume('list-a');
    const b = await createVolume('list-b');
    const made = [];
    for (const [name, volume] of [['ls-1', a], ['ls-2', a], ['ls-3', b]] as const) made.push((await client.controller.CreateSnapshot({ name, source_volume_id: volume.volume_id })).snapshot);
    const ids = (entries: Array<{ snapshot: { snapshot_id: string } }>) => entries.map((e) => e.snapshot.snapshot_id);
    const all = await client.controller.ListSnapshots({});
    expect(ids(all.entries)).toEqual(made.map((s) => s.snapshot_id).sort());
    expect(all.next_token).toBe('');
    expect((await client.controller.ListSnapshots({ snapshot_id: made[1]!.snapshot_id })).entries).toEqual([{ snapshot: made[1] }]);
    expect(ids((await client.controller.ListSnapshots({ source_volume_id: a.volume_id })).entries)).toEqual([made[0]!.snapshot_id, made[1]!.snapshot_id]);
    expect(ids((await client.controller.ListSnapshots({ source_volume_id: a.volume_id, snapshot_id: made[2]!.snapshot_id })).entries)).toEqual([]);
    for (const filter of [{ snapshot_id: 'bind:no-such' }, { snapshot_id: 'not-ours' }, { source_volume_id: 'bind:no-such' }, { source_volume_id: 'other:x' }]) {
      expect((await client.controller.ListSnapshots(filter)).entries).toEqual([]);
    }
    const pages: string[] = [];
    let token = '';
    do {
      const page = await client.controller.ListSnapshots({ max_entries: 1, starting_token: token });
      expect(page.entries.length).toBeLessThanOrEqual(1);
      pages.push(...ids(page.entries));
      token = page.next_token;
    } while (token !== '');
    expect(pages).toEqual(made.map((s) => s.snapshot_id).sort());
    // A token stays good when the entry it names is deleted meanwhile.
    const first = await client.controller.ListSnapshots({ max_entries: 1 });
    await client.controller.DeleteSnapshot({ snapshot_id: ids(first.entries)[0]! });
    expect(ids((await client.controller.ListSnapshots({ starting_token: first.next_token })).entries)).toEqual(made.map((s) => s.snapshot_id).sort().slice(1));
    await expectStatus(client.controller.ListSnapshots({ starting_token: 'invalid-token' }), status.ABORTED, 'starting_token');
    await expectStatus(client.controller.ListVolumes({ starting_token: first.next_token }), status.ABORTED, 'starting_token'); // another listing's token
    await expectStatus(client.controller.ListSnapshots({ max_entries: -1 }), status.INVALID_ARGUMENT, 'max_entries');
    for (const s of made) await client.controller.DeleteSnapshot({ snapshot_id: s.snapshot_id });
    for (const v of [a, b]) await client.controller.DeleteVolume({ volume_id: v.volume_id });
  });

  it('ListVolumes pages with starting_token and max_entries, is stable across calls, ABORTED for an invalid token, shows content sources', async () => {
    const made = [];
    for (const name of ['lv-3', 'lv-1', 'lv-2']) made.push(await createVolume(name));
    const clone = await createVolume('lv-4', { volume_content_source: { volume: { volume_id: made[0]!.volume_id } } });
    const listAll = async () => {
      const seen: Volume[] = [];
      let token = '';
      do {
        const page = await client.controller.ListVolumes({ max_entries: 2, starting_token: token });
        expect(page.entries.length).toBeLessThanOrEqual(2);
        seen.push(...page.entries.map((e: { volume: Volume }) => e.volume));
        token = page.next_token;
      } while (token !== '');
      return seen;
    };
    const first = await listAll();
    expect(first.map((v) => v.volume_id)).toEqual(['bind:lv-1', 'bind:lv-2', 'bind:lv-3', 'bind:lv-4']);
    expect(first.find((v) => v.volume_id === 'bind:lv-4')).toMatchObject({ capacity_bytes: 8 * MiB, volume_context: clone.volume_context, content_source: { volume: { volume_id: 'bind:lv-3' } } });
    expect(await listAll()).toEqual(first);
    expect((await client.controller.ListVolumes({})).entries.map((e: { volume: Volume }) => e.volume)).toEqual(first);
    await expectStatus(client.controller.ListVolumes({ starting_token: 'v1.v.not base64!' }), status.ABORTED, 'starting_token');
    await expectStatus(client.controller.ListVolumes({ max_entries: -5 }), status.INVALID_ARGUMENT, 'max_entries');
    for (const v of [...made, clone]) await client.controller.DeleteVolume({ volume_id: v.volume_id });
    expect((await client.controller.ListVolumes({})).entries).toEqual([]);
  });

  it('a 10,000-file tree is snapshotted and cloned whole', async () => {
    const volume = await createVolume('many-files');
    await writeManyFiles(dirOf(volume), 10_000);
    const { snapshot } = await client.controller.CreateSnapshot({ name: 'many', source_volume_id: volume.volume_id }, 600_000);
    const clone = (await client.controller.CreateVolume({ name: 'many-clone', volume_capabilities: [mountCapability()], parameters: parameters(), volume_content_source: { snapshot: { snapshot_id: snapshot.snapshot_id } } }, 600_000)).volume;
    const source = await describeTree(dirOf(volume));
    expect(source.size).toBe(10_101);
    expect(await describeTree(dirOf(clone))).toEqual(source);
    for (const v of [volume, clone]) await client.controller.DeleteVolume({ volume_id: v.volume_id }, 600_000);
    await client.controller.DeleteSnapshot({ snapshot_id: snapshot.snapshot_id }, 600_000);
    expect(await readdir(join(volumesRoot, '.sharemount-snapshots'))).toEqual([]);
  }, 900_000);

  it('the copy reads through a nosymfollow view: a path through a symlink (a directory swapped for one mid-copy) fails instead of leaving the volume', async () => {
    const parent = join(sandbox.dir, 'swap');
    await mkdir(join(parent, 'vol'), { recursive: true });
    await writeFile(join(parent, 'outside-secret'), 'not the volume\'s');
    const { symlink } = await import('node:fs/promises');
    await symlink(parent, join(parent, 'vol', 'escape'));
    // What cp reads once "escape" was a directory when it looked and is a symlink when it reads:
    // a path through the link. Without nosymfollow this copies the file outside the volume.
    await expect(copyTree({ parent, name: 'vol/escape/outside-secret', destination: join(sandbox.dir, 'swap-copy'), workDir: join(sandbox.dir, 'copies'), commandTimeoutMs: 10_000, copyTimeoutMs: 10_000, logger: silentLogger })).rejects.toMatchObject({ code: 'COMMAND_FAILED' });
    await expect(readFile(join(sandbox.dir, 'swap-copy'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
    await rm(parent, { recursive: true });
  });
});
