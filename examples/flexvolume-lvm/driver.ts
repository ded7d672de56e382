// The FlexVolume LVM example, done right: a logical volume is formatted only when blank, mounted
// once per node, and every pod gets a bind mount into it. Options as the original took them:
//   volumegroup: "vg0"   volumeID: "data01"   size: "1Gi" (create the LV when it is missing)
//   fsType comes from the volume's `fsType` (kubernetes.io/fsType), ext4 by default.
// attach:false: the original's attach/mountdevice flow mounted the LV per PV at a path kubelet
// chose; with the shared-mount core, `mount` mounts it once per node and binds it per pod, and
// the last `unmount` unmounts it. See README.md.
import { runFlexVolumeDriver, type FlexVolumeDriverOptions } from '../../src/flexvolume/index.js';
import { invalidArgument, isSharemountError } from '../../src/index.js';

// The original's option names, mapped onto the LVM backend's parameters.
// A Map, not an object: an option named `constructor` or `__proto__` must not find Object's own.
const renamed = new Map([['volumegroup', 'volumeGroup'], ['volumeID', 'logicalVolume']]);

const driver: FlexVolumeDriverOptions = {
  name: 'sharemount/lvm',
  // A first mount may create the LV and format it: the lvm2 commands (60 s each) and mkfs (up to
  // 10 min) must finish inside the call's deadline, or every retry would kill mkfs and start
  // it over. kubelet itself never times a FlexVolume mount out.
  timeoutMs: 15 * 60_000,
  // Only LVs this driver made (size) or an administrator tagged (lvchange --addtag sharemount):
  // a pod author writes these options, and must not reach the node's own LVs (volumegroup: vg0,
  // volumeID: root). The original served any LV; `lvmBackend({ mountAnyLogicalVolume: true })`
  // does that, for clusters where only administrators may use this driver.
  backends: async () => [(await import('../../src/backends/lvm.js')).lvmBackend()],
  toParameters(options, kubelet) {
    for (const key of renamed.keys()) if (!Object.hasOwn(options, key)) throw invalidArgument(`options.${key}`, 'is required');
    const parameters: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const [key, value] of Object.entries(options)) {
      if ([...renamed.values()].includes(key)) throw invalidArgument(`options.${key}`, `is not an option of this driver (use ${[...renamed.keys()].join(', ')})`);
      parameters[renamed.get(key) ?? key] = value;
    }
    if (kubelet.fsType !== undefined) parameters.fsType = kubelet.fsType;
    return parameters;
  },
  async beforePublish({ backend, parameters, logger }) {
    const { logicalVolume, size } = parameters as { logicalVolume: string; size?: number };
    if (size === undefined || backend.createVolume === undefined) return; // not asked to create
    try {
      const created = await backend.createVolume({ name: logicalVolume, parameters, capacityBytes: size });
      logger.info({ volumeId: created.volumeId, capacityBytes: created.capacityBytes }, 'logical volume present');
    } catch (error) {
      // It exists with another size: it is not missing, so it is used as it is.
      if (!isSharemountError(error, 'ALREADY_EXISTS')) throw error;
      logger.warn({ logicalVolume, message: error.message }, 'logical volume exists with another size; using it');
    }
  },
};

void runFlexVolumeDriver(driver);
