import { mkdir, writeFile } from 'node:fs/promises';
import { readMountInfo } from '../../src/mountinfo.js';
import { buildDriver } from '../../test/helpers/flexvolume-drivers.js';
import { goJsonMarshal } from '../../test/helpers/kubelet.js';
import { ms, ratio, spawnOk, summarize, table, verdict, type BenchSection } from '../lib.js';
import { measureInterleaved, type OperationPair } from '../core/interleave.js';
import { createWorkspace } from '../core/workspace.js';
import { addUnrelatedMounts, unrelatedMountCount } from '../core/unrelated-mounts.js';
import { describePhases, onQuietDisk } from '../settle.js';

// SHAREMOUNT_BENCH_SAMPLES shortens a trial run; the published figures use the default.
const samples = Number(process.env.SHAREMOUNT_BENCH_SAMPLES ?? 60);
const rounds = { warmup: Math.max(3, Math.round(samples / 10)), samples };

/**
 * What one FlexVolume call costs as kubelet pays it: a whole process, started, run and exited.
 * The built single executable of the bind driver (test/fixtures/flexvolume-bind) is measured
 * against `node -e 0` of the Node it was built from and against the bare `mount --bind` /
 * `umount` it must run anyway, all interleaved in the same run. A pod holds the share the whole
 * time, so each measured `mount` is one publication (lock, reference, bind mount, fsGroup off)
 * and each `unmount` one unpublication, as for every pod after the first on a node.
 */
// The target: a call costs at most this many `node -e 0` plus the bare command it runs.
const targetFactor = 2.2;

export async function run(): Promise<BenchSection> {
  const ws = await createWorkspace('flexvolume-');
  try {
    const executable = await buildDriver('sharemount~bind');
    const source = ws.path('source');
    await mkdir(ws.path('source', 'data'), { recursive: true });
    await mkdir(ws.path('log'));
    const env = { SHAREMOUNT_ROOT: ws.path('root'), SHAREMOUNT_LOG: ws.path('log', 'driver.log'), SHAREMOUNT_CONFIG: ws.path('config.json') };
    await writeFile(env.SHAREMOUNT_CONFIG, '{}');
    const json = (uid: string) =>
      goJsonMarshal({
        'kubernetes.io/fsType': '',
        'kubernetes.io/readwrite': 'rw',
        'kubernetes.io/pvOrVolumeName': 'data',
        'kubernetes.io/pod.name': `pod-${uid}`,
        'kubernetes.io/pod.namespace': 'default',
        'kubernetes.io/pod.uid': uid,
        'kubernetes.io/serviceAccount.name': 'default',
        path: source,
        subPath: 'data',
      });
    const podDir = async (uid: string) => {
      const dir = ws.path('pods', uid, 'volumes', 'sharemount~bind', 'data');
      await mkdir(dir, { recursive: true, mode: 0o750 });
      return dir;
    };

    // The pod that keeps the share mounted throughout, and the one measured (pod UIDs are UUIDs).
    const holderUid = '00000000-0000-4000-8000-000000000001';
    const measuredUid = '00000000-0000-4000-8000-000000000002';
    await spawnOk(executable, ['mount', await podDir(holderUid), json(holderUid)], env);
    const measured = await podDir(measuredUid);
    const bareTarget = ws.path('bare-target');
    await mkdir(bareTarget);
    const isMounted = async (path: string) => {
      if (!(await readMountInfo()).some((m) => m.mountPoint === path)) throw new Error(`${path} is not mounted`);
    };

    const pairs: OperationPair[] = [
      { name: 'node -e 0', make: () => spawnOk(process.execPath, ['-e', '0'], {}), unmake: () => spawnOk(process.execPath, ['-e', '0'], {}), verify: async () => {} },
      { name: 'driver init', make: () => spawnOk(executable, ['init'], env), unmake: () => spawnOk(executable, ['init'], env), verify: async () => {} },
      {
        name: 'bare mount --bind / umount',
        make: () => spawnOk('mount', ['--bind', '--', ws.path('source', 'data'), bareTarget], {}),
        unmake: () => spawnOk('umount', ['--', bareTarget], {}),
        verify: () => isMounted(bareTarget),
      },
      {
        name: 'driver mount / unmount',
        make: () => spawnOk(executable, ['mount', measured, json(measuredUid)], env),
        unmake: () => spawnOk(executable, ['unmount', measured], env),
        verify: () => isMounted(measured),
      },
    ];
    const plainPhase = await onQuietDisk(ws.base, () => measureInterleaved(pairs, rounds));
    const results = plainPhase.result;
    // Every call reconciles its share against the mount table: measured again on a crowded one.
    const removeUnrelated = await addUnrelatedMounts(ws.path('unrelated'));
    let crowdedPhase;
    try {
      crowdedPhase = await onQuietDisk(ws.base, () =>
        measureInterleaved(pairs.filter((pair) => pair.name === 'node -e 0' || pair.name === 'driver mount / unmount'), { warmup: rounds.warmup, samples: Math.max(10, Math.round(samples / 2)) }),
      );
    } finally {
      await removeUnrelated();
    }
    const crowded = crowdedPhase.result;
    await spawnOk(executable, ['unmount', await podDir(holderUid)], env);

    const node = summarize([...results.get('node -e 0')!.make, ...results.get('node -e 0')!.unmake]);
    const init = summarize([...results.get('driver init')!.make, ...results.get('driver init')!.unmake]);
    const bareMount = summarize(results.get('bare mount --bind / umount')!.make);
    const bareUmount = summarize(results.get('bare mount --bind / umount')!.unmake);
    const mountCall = summarize(results.get('driver mount / unmount')!.make);
    const unmountCall = summarize(results.get('driver mount / unmount')!.unmake);
    const crowdedNode = summarize([...crowded.get('node -e 0')!.make, ...crowded.get('node -e 0')!.unmake]);
    const crowdedMount = summarize(crowded.get('driver mount / unmount')!.make);
    const crowdedUnmount = summarize(crowded.get('driver mount / unmount')!.unmake);
    const mountBudget = targetFactor * node.median + bareMount.median;
    const unmountBudget = targetFactor * node.median + bareUmount.median;
    const row = (name: string, s: ReturnType<typeof summarize>) => [name, ms(s.median), ms(s.p99), ratio(s.median, node.median)];

    const markdown = [
      `Each figure is a whole process as kubelet runs it (spawn, run, exit), ${samples} samples of each, interleaved in one run; the driver is the bind test driver built into a single executable (Node SEA), called with a minimal environment and logging to a file. Every call is answered in its own process, started from the executable alone.`,
      '',
      table(['process', 'median', 'p99', 'vs node -e 0'], [
        row('`node -e 0`', node),
        row('driver `init`', init),
        row('bare `mount --bind`', bareMount),
        row('bare `umount`', bareUmount),
        row('driver `mount` (one bind publication)', mountCall),
        row('driver `unmount` (one unpublication)', unmountCall),
      ]),
      '',
      `- Target: \`mount\` ≤ ${targetFactor} × \`node -e 0\` + bare \`mount --bind\` = ${ms(mountBudget)}; measured ${ms(mountCall.median)}: ${verdict(mountCall.median <= mountBudget)}.`,
      `- The same bound for \`unmount\` (${targetFactor} × \`node -e 0\` + bare \`umount\` = ${ms(unmountBudget)}); measured ${ms(unmountCall.median)}: ${verdict(unmountCall.median <= unmountBudget)}.`,
      `- With ${unrelatedMountCount.toLocaleString('en-US')} unrelated mounts added to the namespace (${Math.max(10, Math.round(samples / 2))} samples each, \`node -e 0\` ${ms(crowdedNode.median)}): \`mount\` ${ms(crowdedMount.median)} (p99 ${ms(crowdedMount.p99)}), \`unmount\` ${ms(crowdedUnmount.median)} (p99 ${ms(crowdedUnmount.p99)}). Each call reconciles its share, which parses only that share's filesystem's lines of the mount table; the kernel still writes the whole table (about 330 KB) for the one read.`,
      '',
      describePhases([['calls', plainPhase], [`with ${unrelatedMountCount.toLocaleString('en-US')} unrelated mounts`, crowdedPhase]]),
    ].join('\n');
    return { title: 'FlexVolume calls as processes', markdown };
  } finally {
    await ws.dispose();
  }
}
