// One CSI node plugin serving three backends: NFS exports, LVM logical volumes and host
// directories. Each PV names its backend in its volume attributes (`backend: nfs`) and gives
// that backend's parameters there; every PV that is a sub-directory of one export shares one
// NFS mount on the node. Flags as the CSI sidecars' conventions have them:
//   --endpoint unix:///csi/csi.sock   --node-id $(NODE_NAME)   [--root /var/lib/sharemount]
// See README.md and docs/csi.md.
import { parseArgs } from 'node:util';
import { bindBackend } from '../../src/backends/bind.js';
import { lvmBackend } from '../../src/backends/lvm.js';
import { nfsBackend } from '../../src/backends/nfs.js';
import { runCsiPlugin } from '../../src/csi/index.js';

const { values } = parseArgs({
  options: {
    endpoint: { type: 'string', default: 'unix:///csi/csi.sock' },
    'node-id': { type: 'string' },
    root: { type: 'string' },
  },
  strict: true,
});

await runCsiPlugin({
  name: 'sharemount.example.com',
  vendorVersion: '0.1.0',
  endpoint: values.endpoint,
  // Validated with the other options: a missing --node-id is refused by name.
  nodeId: values['node-id'] ?? '',
  ...(values.root === undefined ? {} : { root: values.root }),
  backends: [nfsBackend(), lvmBackend(), bindBackend()],
  // An LVM PV's filesystem may come from its `csi.fsType` (kubelet's fs_type) as well.
  toParameters: (context, { fsType }, backend) => (backend.name === 'lvm' && fsType !== '' && context.fsType === undefined ? { ...context, fsType } : context),
}).catch((error: unknown) => {
  // A bad flag or a socket in use: one line that says which, for the container's log.
  console.error(`sharemount-csi: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
