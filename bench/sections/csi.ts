import { mkdir } from 'node:fs/promises';
import { bindBackend } from '../../src/backends/bind.js';
import { readMountInfo } from '../../src/mountinfo.js';
import { mountCapability } from '../../test/helpers/csi-client.js';
import { ms, ratio, spawnOk, summarize, table, type BenchSection } from '../lib.js';
import { measureInterleaved, type OperationPair } from '../core/interleave.js';
import { withCsiPlugin } from '../core/csi-session.js';
import { describePhases, onQuietDisk } from '../settle.js';

// SHAREMOUNT_BENCH_SAMPLES shortens a trial run; the published figures use the default.
const samples = Number(process.env.SHAREMOUNT_BENCH_SAMPLES ?? 100);
const rounds = { warmup: Math.max(5, Math.round(samples / 10)), samples };

/**
 * What the CSI node plugin's calls cost as kubelet makes them: real gRPC over the plugin's unix
 * socket, against the bare `mount --bind` / `umount` they must spawn anyway, interleaved in one
 * run. One PV holds the share mounted throughout, so a stage is one publication of a share that
 * is mounted already (every PV after the first on a node), and a publish one bind mount of the
 * staging path. No target: CSI calls are made by a long-running process, so they pay no start-up.
 */
export function run(): Promise<BenchSection> {
  return withCsiPlugin('csi-', () => [bindBackend({ allowedPaths: ['/'] })], async (client, ws) => {
    await mkdir(ws.path('source', 'data'), { recursive: true });
    const capability = mountCapability();
    const volumeContext = { path: ws.path('source'), subPath: 'data' };
    const staging = async (pv: string) => {
      const dir = ws.path('staging', pv);
      await mkdir(dir, { recursive: true });
      return dir;
    };
    const stage = (pv: string, dir: string) => client.node.NodeStageVolume({ volume_id: pv, staging_target_path: dir, volume_capability: capability, volume_context: volumeContext });
    const holderStaging = await staging('holder');
    await stage('holder', holderStaging);
    const measuredStaging = await staging('measured');
    const podTarget = ws.path('pods', 'pod', 'mount');
    await mkdir(ws.path('pods', 'pod'), { recursive: true });
    const bareTarget = ws.path('bare');
    await mkdir(bareTarget);
    const isMounted = async (path: string) => {
      if (!(await readMountInfo()).some((m) => m.mountPoint === path)) throw new Error(`${path} is not mounted`);
    };

    const pairs: OperationPair[] = [
      {
        name: 'bare',
        make: () => spawnOk('mount', ['--bind', '--', ws.path('source', 'data'), bareTarget]),
        unmake: () => spawnOk('umount', ['--', bareTarget]),
        verify: () => isMounted(bareTarget),
      },
      {
        name: 'stage',
        make: () => stage('measured', measuredStaging),
        unmake: () => client.node.NodeUnstageVolume({ volume_id: 'measured', staging_target_path: measuredStaging }),
        verify: () => isMounted(measuredStaging),
      },
      {
        name: 'publish',
        make: () => client.node.NodePublishVolume({ volume_id: 'holder', staging_target_path: holderStaging, target_path: podTarget, volume_capability: capability }),
        unmake: () => client.node.NodeUnpublishVolume({ volume_id: 'holder', target_path: podTarget }),
        verify: () => isMounted(podTarget),
      },
      {
        name: 'round trip',
        make: () => client.node.NodeGetCapabilities({}),
        unmake: () => client.identity.Probe({}),
        verify: async () => {},
      },
    ];
    const phase = await onQuietDisk(ws.base, () => measureInterleaved(pairs, rounds));
    const results = phase.result;
    await client.node.NodeUnstageVolume({ volume_id: 'holder', staging_target_path: holderStaging });

    const bareMount = summarize(results.get('bare')!.make);
    const bareUmount = summarize(results.get('bare')!.unmake);
    const row = (name: string, s: ReturnType<typeof summarize>, bare: ReturnType<typeof summarize>) => [name, ms(s.median), ms(s.p99), ratio(s.median, bare.median)];
    const markdown = [
      `${samples} samples of each, interleaved in one run; the plugin and its client (real gRPC over the unix socket) share the benchmark's process, so a call's figure includes both ends.`,
      '',
      table(['call', 'median', 'p99', 'vs the bare command'], [
        row('bare `mount --bind`', bareMount, bareMount),
        row('bare `umount`', bareUmount, bareUmount),
        row('`NodeStageVolume` (a PV of a share already mounted)', summarize(results.get('stage')!.make), bareMount),
        row('`NodeUnstageVolume` (not the last PV)', summarize(results.get('stage')!.unmake), bareUmount),
        row('`NodePublishVolume` (a bind of the staging path)', summarize(results.get('publish')!.make), bareMount),
        row('`NodeUnpublishVolume`', summarize(results.get('publish')!.unmake), bareUmount),
        row('`NodeGetCapabilities` (a call that does nothing)', summarize(results.get('round trip')!.make), bareMount),
      ]),
      '',
      '- A stage is a MountManager publication (locks, reference, checks, the bind mount); a publish checks the staging path and the target in the mount table and spawns one bind mount. The last row is what gRPC and the shim add to any call.',
      '',
      describePhases([['calls', phase]]),
    ].join('\n');
    return { title: 'CSI node calls over gRPC', markdown };
  });
}
