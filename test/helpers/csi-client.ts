import { credentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { createCsiPlugin, type CsiPlugin, type CsiPluginOptions } from '../../src/csi/index.js';
import { loadCsiServices } from '../../src/csi/proto.js';

type Call = (request: object, deadlineMs?: number) => Promise<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * A CSI client as a CO (kubelet, csi-sanity) is one: real gRPC over the plugin's unix socket,
 * with a deadline on every call. `raw` sends any method path with an empty message, for the
 * calls the shipped proto leaves out.
 */
export async function csiClient(socketPath: string) {
  const services = await loadCsiServices();
  const address = `unix:${socketPath}`;
  const clients: Client[] = [];
  const service = <T extends string>(Service: (typeof services)[keyof typeof services], methods: readonly T[]) => {
    const client = new Service(address, credentials.createInsecure()) as unknown as Client & Record<string, Function>; // eslint-disable-line @typescript-eslint/no-unsafe-function-type
    clients.push(client);
    const calls = {} as Record<T, Call>;
    for (const method of methods) {
      calls[method] = (request, deadlineMs = 30_000) =>
        new Promise((resolve, reject) => client[method]!(request, { deadline: Date.now() + deadlineMs }, (error: ServiceError | null, response: Record<string, unknown>) => (error ? reject(error) : resolve(response))));
    }
    return calls;
  };
  const identity = service(services.Identity, ['GetPluginInfo', 'GetPluginCapabilities', 'Probe'] as const);
  const controller = service(services.Controller, ['CreateVolume', 'DeleteVolume', 'ValidateVolumeCapabilities', 'ListVolumes', 'GetCapacity', 'ControllerExpandVolume', 'ControllerGetCapabilities', 'CreateSnapshot', 'DeleteSnapshot', 'ListSnapshots'] as const);
  const node = service(services.Node, ['NodeStageVolume', 'NodeUnstageVolume', 'NodePublishVolume', 'NodeUnpublishVolume', 'NodeGetVolumeStats', 'NodeExpandVolume', 'NodeGetCapabilities', 'NodeGetInfo'] as const);
  const raw = (path: string) =>
    new Promise<void>((resolve, reject) =>
      clients[0]!.makeUnaryRequest(path, (value: Buffer) => value, (value: Buffer) => value, Buffer.alloc(0), (error) => (error ? reject(error) : resolve())),
    );
  return {
    identity,
    controller,
    node,
    raw,
    close: () => clients.forEach((client) => client.close()),
  };
}

export type CsiClient = Awaited<ReturnType<typeof csiClient>>;

/** A mount capability as kubelet sends it. */
export function mountCapability(mode = 'SINGLE_NODE_WRITER', mountFlags: string[] = []) {
  return { mount: { fs_type: '', mount_flags: mountFlags }, access_mode: { mode } };
}

/** A plugin started with `options` and a client connected to it, as a test's fixture; `close` stops both. */
export async function startPlugin(options: CsiPluginOptions): Promise<{ plugin: CsiPlugin; client: CsiClient; close(): Promise<void> }> {
  const plugin = createCsiPlugin(options);
  await plugin.start();
  const client = await csiClient(plugin.socketPath);
  return {
    plugin,
    client,
    async close() {
      client.close();
      await plugin.stop();
    },
  };
}
