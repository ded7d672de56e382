import type { AnyBackend } from '../../src/backend.js';
import { createCsiPlugin } from '../../src/csi/index.js';
import { silentLogger } from '../../src/logger.js';
import { csiClient, type CsiClient } from '../../test/helpers/csi-client.js';
import { createWorkspace, type Workspace } from './workspace.js';

/**
 * Runs `measure` in a fresh workspace against a CSI plugin serving `backends`, in this process
 * and reached by a real gRPC client over its unix socket (so a figure includes both ends). The
 * client, the plugin and the workspace are closed, stopped and removed afterwards, whatever
 * `measure` did.
 */
export async function withCsiPlugin<T>(
  prefix: string,
  backends: (ws: Workspace) => AnyBackend[],
  measure: (client: CsiClient, ws: Workspace) => Promise<T>,
): Promise<T> {
  const ws = await createWorkspace(prefix);
  const socket = ws.path('csi.sock');
  const plugin = createCsiPlugin({ name: 'bench.example.com', vendorVersion: '1', nodeId: 'bench', endpoint: socket, root: ws.path('state'), backends: backends(ws), logger: silentLogger });
  try {
    await plugin.start();
    const client = await csiClient(socket);
    try {
      return await measure(client, ws);
    } finally {
      client.close();
    }
  } finally {
    await plugin.stop();
    await ws.dispose();
  }
}
