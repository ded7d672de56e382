import { testBackend } from '../../src/testing/index.js';
import { nfsBackend } from '../../src/backends/nfs.js';
import { skipWhenMissing } from '../helpers/ci.js';
import { missingNfsPrerequisites, startNfsServer } from '../helpers/nfs-server.js';
import { installMountNfsSeam } from '../helpers/mount-nfs-seam.js';

// The shared suite, run against a real nfs-ganesha export through `mount -t nfs` and the
// mount.nfs seam. The suite publishes without options, so the seam routes the default port to
// the test server; the unmountable source is a path that server does not export.
const missing = missingNfsPrerequisites();
if (!skipWhenMissing(missing.length > 0 ? missing.join(', ') : undefined, 'the NFS conformance suite')) {
  testBackend('nfs', {
    backend: nfsBackend(),
    async makeSource() {
      if (missing.length > 0) throw new Error(`NFS conformance needs: ${missing.join(', ')}`);
      const server = await startNfsServer();
      const seam = await installMountNfsSeam([server]).catch(async (error: unknown) => {
        await server.stop();
        throw error;
      });
      return {
        source: { backend: 'nfs', server: server.host, export: server.exportPath },
        async cleanup() {
          await seam.uninstall();
          await server.stop();
        },
      };
    },
    equivalentOptions: [
      ['vers=4.1', 'hard', 'timeo=600'],
      ['timeo=600', 'hard', 'vers=4.1', 'hard'],
    ],
    unmountableSource: { backend: 'nfs', server: '127.0.0.1', export: '/not-exported' },
  });
}
