import { mount } from '../mount-command.js';
import type { Backend } from '../backend.js';
import { checkNfsOptions } from './nfs/options.js';
import { nfsParametersSchema, nfsVolume, type NfsParameters } from './nfs/parameters.js';
import { NfsProvisioner, type NfsProvisionerOptions } from './nfs/provisioner.js';
import { createNfsSnapshot, deleteNfsSnapshot, listNfsSnapshots, listNfsVolumes } from './nfs/snapshots.js';
import { nfsDevice, nfsLayout, nfsSourceSchema, type NfsSource } from './nfs/source.js';

export type { NfsSource } from './nfs/source.js';
export type { NfsParameters, OnDeletePolicy } from './nfs/parameters.js';
export type { NfsProvisionerOptions } from './nfs/provisioner.js';
export { NfsProvisioner, archivePrefix } from './nfs/provisioner.js';
export { nfsParametersSchema, splitShare } from './nfs/parameters.js';
export { nfsSourceSchema, canonicalServer, canonicalExport } from './nfs/source.js';
export { fittedLocation, formatVolumeId, parseVolumeId } from './nfs/volume-id.js';
export { defaultSubDirTemplate, renderSubDirName } from './nfs/subdir-name.js';

export interface NfsBackendOptions {
  /** Enables createVolume/deleteVolume (controller side); see NfsProvisionerOptions. */
  provisioner?: NfsProvisionerOptions;
}

type NfsBackendShape = Backend<NfsSource, NfsParameters>;
/** The NFS backend as `nfsBackend()` returns it: parameters and toVolume always present. */
export type NfsBackend = NfsBackendShape & Required<Pick<NfsBackendShape, 'checkOptions' | 'parameters' | 'toVolume'>>;
/** The NFS backend with a provisioner: createVolume, deleteVolume and describeVolume present too. */
export type NfsProvisioningBackend = NfsBackend & Required<Pick<NfsBackendShape, 'createVolume' | 'deleteVolume' | 'describeVolume' | 'expandVolume' | 'createSnapshot' | 'deleteSnapshot' | 'listSnapshots' | 'listVolumes'>>;

/**
 * The NFS backend: one share per (server, export, option set) per node, mounted with
 * `mount -t nfs -o <options> -- server:/export <mountPoint>` so that mount.nfs and the kernel
 * do the protocol work; consumers get bind mounts of sub-directories. With `provisioner`, it also
 * creates and deletes volumes as sub-directories of an export. See docs/backends/nfs.md.
 */
export function nfsBackend(options: NfsBackendOptions & { provisioner: NfsProvisionerOptions }): NfsProvisioningBackend;
export function nfsBackend(options?: NfsBackendOptions): NfsBackend;
export function nfsBackend(options: NfsBackendOptions = {}): NfsBackend {
  const provisioner = options.provisioner ? new NfsProvisioner(options.provisioner) : undefined;
  return {
    name: 'nfs',
    sourceSchema: nfsSourceSchema,
    layout: nfsLayout,
    checkOptions: checkNfsOptions,
    async mount(context) {
      // The timeout kills mount(8) when the server does not answer: a hung server costs this
      // call, never the node (kubernetes-csi/csi-driver-nfs#1271).
      await mount(
        {
          fsType: 'nfs',
          source: nfsDevice(context.source),
          target: context.mountPoint,
          options: context.options,
          sensitiveOptions: context.sensitiveOptions,
        },
        context.timeoutMs,
      );
    },
    parameters: nfsParametersSchema,
    toVolume: nfsVolume,
    ...(provisioner
      ? {
          createVolume: (request) => provisioner.createVolume(request),
          deleteVolume: (volumeId, parameters) => provisioner.deleteVolume(volumeId, parameters),
          describeVolume: (volumeId) => provisioner.describeVolume(volumeId),
          expandVolume: (volumeId, capacityBytes) => provisioner.expandVolume(volumeId, capacityBytes),
          contentSources: ['snapshot', 'volume'] as const,
          createSnapshot: (request) => createNfsSnapshot(provisioner, request),
          deleteSnapshot: (snapshotId) => deleteNfsSnapshot(provisioner, snapshotId),
          listSnapshots: (filter) => listNfsSnapshots(provisioner, filter),
          listVolumes: () => listNfsVolumes(provisioner),
        }
      : {}),
  } satisfies Backend<NfsSource, NfsParameters>;
}
