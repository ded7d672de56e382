/**
 * Every Kubernetes manifest in examples/ validates against the API's schemas (built-in kinds
 * through kubernetes-models, VolumeSnapshotClass through its CRD's schema), and the check
 * fails on a mangled copy of each kind of mistake.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkManifestText, yamlFilesUnder } from '../helpers/manifests.js';

const repo = join(import.meta.dirname, '..', '..');
/** YAML files in examples/ that are no Kubernetes objects (a csi-sanity parameter file). */
const notManifests = new Set(['examples/csi-driver/csi-sanity-parameters.yaml']);
const files = yamlFilesUnder(join(repo, 'examples'), repo);
const read = (file: string) => readFileSync(join(repo, file), 'utf8');

describe('example manifests', () => {
  it('finds the manifests (the CSI driver, its snapshot class, the FlexVolume examples)', () => {
    for (const file of ['examples/csi-driver/daemonset.yaml', 'examples/csi-driver/storageclasses.yaml', 'examples/csi-driver/snapshotclass.yaml', 'examples/flexvolume-nfs/daemonset.yaml']) expect(files).toContain(file);
  });

  it.each(files.filter((file) => !notManifests.has(file)))('%s validates against the Kubernetes schemas', async (file) => {
    expect(await checkManifestText(read(file), file)).toEqual([]);
  });

  it('the files that are not manifests hold no Kubernetes object', () => {
    for (const file of notManifests) expect(read(file)).not.toMatch(/^kind:/m);
  });

  it('holds what the deployment needs: csi-snapshotter with its RBAC, a VolumeSnapshotClass, a raw block StorageClass and claim', () => {
    const daemonSet = read('examples/csi-driver/daemonset.yaml');
    expect(daemonSet).toContain('image: registry.k8s.io/sig-storage/csi-snapshotter:');
    expect(daemonSet).toMatch(/resources: \[volumesnapshotcontents\]/);
    expect(read('examples/csi-driver/snapshotclass.yaml')).toMatch(/kind: VolumeSnapshotClass[\s\S]*driver: sharemount\.example\.com/);
    expect(read('examples/csi-driver/storageclasses.yaml')).toContain('volumeMode: Block');
  });

  describe('fails on an invalid manifest (mangled copies)', () => {
    const daemonSet = read('examples/csi-driver/daemonset.yaml');
    const storage = read('examples/csi-driver/storageclasses.yaml');
    const snapshotClass = read('examples/csi-driver/snapshotclass.yaml');
    it.each([
      ['a container without its name', daemonSet, (t: string) => t.replace('- name: csi-snapshotter\n', '- image-pull: x\n'), 'DaemonSet'],
      ['a field of the wrong type', daemonSet, (t: string) => t.replace('hostNetwork: true', 'hostNetwork: "yes"'), 'hostNetwork'],
      ['a volumeMode outside the enum', storage, (t: string) => t.replace('volumeMode: Block', 'volumeMode: Raw'), 'volumeMode'],
      ['a StorageClass without its provisioner', storage, (t: string) => t.replace('provisioner: sharemount.example.com\nparameters:\n  backend: lvm\n  volumeGroup: vg0\nreclaimPolicy', 'parameters:\n  backend: lvm\n  volumeGroup: vg0\nreclaimPolicy'), 'provisioner'],
      ['a VolumeSnapshotClass with an unknown deletionPolicy', snapshotClass, (t: string) => t.replace('deletionPolicy: Delete', 'deletionPolicy: Keep'), 'deletionPolicy'],
      ['a VolumeSnapshotClass without its driver', snapshotClass, (t: string) => t.replace('driver: sharemount.example.com\n', ''), 'driver'],
      ['a VolumeSnapshotClass with a misspelled field', snapshotClass, (t: string) => t.replace('deletionPolicy:', 'deletionpolicy:'), 'VolumeSnapshotClass'],
      ['a kind no schema knows', snapshotClass, (t: string) => t.replace('kind: VolumeSnapshotClass', 'kind: VolumeSnapshotKlass'), 'no schema'],
      ['broken YAML', storage, (t: string) => `${t}\n  - : [\n`, 'YAML'],
    ])('%s', async (_, original, mangle, named) => {
      const mangled = mangle(original);
      expect(mangled).not.toBe(original);
      const problems = await checkManifestText(mangled, 'mangled.yaml');
      expect(problems.length).toBeGreaterThan(0);
      expect(problems.map((p) => p.problem).join('\n')).toContain(named);
    });
  });
});
