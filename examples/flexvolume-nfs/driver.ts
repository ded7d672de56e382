// nfs-flex-volume, done right: one NFS mount per export and option set per node, a bind mount
// per pod into it, unmounted when the last pod leaves. Options as nfs-flex-volume took them:
//   share: "server:/export"   mountOptions: "vers=4.1,hard"   subPath: "team-a/data"
//   createIfNecessary: "true" createMode: "0750"
// Built into one executable by scripts/build-flexvolume.sh; see README.md.
import { runFlexVolumeDriver } from '../../src/flexvolume/index.js';

void runFlexVolumeDriver({
  name: 'sharemount/nfs',
  // Loaded only by mount and unmount: init answers without loading the backend.
  backends: async () => [(await import('../../src/backends/nfs.js')).nfsBackend()],
  // nfs-flex-volume published with symlinks; this one does not offer them: a symlink is no
  // security boundary (docs/strategies.md). An operator who needs them adds `allowSymlink: true`.
});
