// One CSI plugin serving three backends, node and controller in one process:
// - nfs: volumes on NFS exports; every PV that is a sub-directory of one export shares one NFS
//   mount on the node; CreateVolume makes a sub-directory of the export its StorageClass names;
// - lvm: logical volumes of the node's volume groups, created, formatted once, mounted once;
// - bind: sub-directories of one host directory (--bind-root), created by CreateVolume.
// A volume names its backend (`backend: nfs`) in its StorageClass parameters or PV attributes.
// Flags as the CSI sidecars' conventions have them:
//   --endpoint unix:///csi/csi.sock  --node-id $(NODE_NAME)  [--root /var/lib/sharemount/csi/<name>]
//   [--bind-root /var/lib/sharemount-volumes] [--metrics-address HOST:PORT]
//   [--nfs-export server:/export ...]
//   [--heal-interval-seconds 0]
// --metrics-address serves Prometheus metrics at http://HOST:PORT/metrics (off without it;
// `:9808` is every interface, port 9808): see docs/metrics.md.
// Snapshots and clones (copies of the volume's tree for nfs and bind, lvcreate --snapshot for
// lvm, clones of thin LVs) and ListVolumes: docs/snapshots.md.
// See README.md and docs/csi.md.
import { parseArgs } from 'node:util';
import { bindBackend } from '../../src/backends/bind.js';
import { lvmBackend } from '../../src/backends/lvm.js';
import { nfsBackend } from '../../src/backends/nfs.js';
import { createCsiPlugin, runCsiPlugin, type CsiPlugin } from '../../src/csi/index.js';
import type { MountManager } from '../../src/index.js';

const { values } = parseArgs({
  options: {
    endpoint: { type: 'string', default: 'unix:///csi/csi.sock' },
    'node-id': { type: 'string' },
    root: { type: 'string' },
    'bind-root': { type: 'string', default: '/var/lib/sharemount-volumes' },
    'metrics-address': { type: 'string' },
    // The exports ListVolumes and ListSnapshots look in (a listing brings no parameters).
    'nfs-export': { type: 'string', multiple: true, default: [] },
    // Off (0) by default: every this many seconds, reconcile the root, healing broken shares.
    'heal-interval-seconds': { type: 'string', default: '0' },
  },
  strict: true,
});

/** `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (every interface) as the plugin's metrics option. */
function metricsAddress(value: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (match === null || port > 65_535) throw new Error(`--metrics-address: "${value}" is not HOST:PORT (or :PORT for every interface)`);
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

let plugin: CsiPlugin;
try {
  const healSeconds = Number(values['heal-interval-seconds']);
  if (!Number.isInteger(healSeconds) || healSeconds < 0) throw new Error(`--heal-interval-seconds must be a whole number of seconds (0: off), not ${values['heal-interval-seconds']}`);
  // The NFS provisioner reaches an export through the plugin's own MountManager (made with
  // the plugin), so that it shares the node's mount of it.
  const manager: Pick<MountManager, 'publish' | 'unpublish'> = {
    publish: (request) => plugin.manager.publish(request),
    unpublish: (target, options) => plugin.manager.unpublish(target, options),
  };
  plugin = createCsiPlugin({
    name: 'sharemount.example.com',
    vendorVersion: '0.1.0',
    endpoint: values.endpoint,
    // Validated with the other options: a missing --node-id is refused by name.
    nodeId: values['node-id'] ?? '',
    ...(values.root === undefined ? {} : { root: values.root }),
    ...(values['metrics-address'] === undefined ? {} : { metrics: metricsAddress(values['metrics-address']) }),
    ...(healSeconds === 0 ? {} : { healIntervalMs: healSeconds * 1000 }),
    backends: [
      // DeleteVolume brings only the volume id, so what it does with an NFS volume's data is
      // the driver's choice, not a StorageClass's: kept, renamed archived-<name>.
      nfsBackend({ provisioner: { manager, workDir: '/var/lib/sharemount-provisioner', idOnlyDefaults: { onDelete: 'archive', mountOptions: ['vers=4.1', 'hard'] }, listedExports: values['nfs-export'] } }),
      lvmBackend(),
      // Only its own volumes: a PV naming another host path is refused on the node.
      bindBackend({ provisioning: { root: values['bind-root'] }, allowedPaths: [values['bind-root']] }),
    ],
    // An LVM PV's filesystem may come from its `csi.fsType` (kubelet's fs_type) as well.
    toParameters: (context, { fsType }, backend) => (backend.name === 'lvm' && fsType !== '' && context.fsType === undefined ? { ...context, fsType } : context),
  });
  await runCsiPlugin(plugin);
} catch (error) {
  // A bad flag or a socket in use: one line that says which, for the container's log.
  console.error(`sharemount-csi: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
