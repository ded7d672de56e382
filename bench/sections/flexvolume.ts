import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { readMountInfo } from '../../src/mountinfo.js';
import { buildDriver } from '../../test/helpers/flexvolume-drivers.js';
import { goJsonMarshal } from '../../test/helpers/kubelet.js';
import { stopHelpers, waitForHelpers, waitForSocket } from '../../test/helpers/flexvolume-helper.js';
import { ms, spawnOk, summarize, table, verdict, type BenchSection } from '../lib.js';
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
 * `umount` it must run anyway, all interleaved in the same run: answered by the driver's resident
 * helper (as every call but the first on a node is) and, with SHAREMOUNT_HELPER=off, in the
 * call's own process (as the first is). A pod holds the share the whole time, so each measured
 * `mount` is one publication (lock, reference, bind mount, fsGroup off) and each `unmount` one
 * unpublication, as for every pod after the first on a node.
 */
export async function run(): Promise<BenchSection> {
  const ws = await createWorkspace('flexvolume-');
  try {
    const executable = await buildDriver('sharemount~bind');
    const source = ws.path('source');
    await mkdir(ws.path('source', 'data'), { recursive: true });
    await mkdir(ws.path('log'));
    const helperDir = ws.path('helper');
    const env = { SHAREMOUNT_ROOT: ws.path('root'), SHAREMOUNT_LOG: ws.path('log', 'driver.log'), SHAREMOUNT_CONFIG: ws.path('config.json'), SHAREMOUNT_HELPER_DIR: helperDir };
    const ownProcess = { ...env, SHAREMOUNT_HELPER: 'off' };
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
    await spawnOk(executable, ['mount', await podDir(holderUid), json(holderUid)], env); // answered in its own process, which starts the helper
    const [helperPid] = await waitForHelpers(helperDir, 1);
    if (helperPid === undefined) throw new Error('the first call started no resident helper');
    await waitForSocket(`${helperDir}/sharemount~bind.sock`);
    const measured = await podDir(measuredUid);
    const bareTarget = ws.path('bare-target');
    await mkdir(bareTarget);
    const isMounted = async (path: string) => {
      if (!(await readMountInfo()).some((m) => m.mountPoint === path)) throw new Error(`${path} is not mounted`);
    };

    const pairs: OperationPair[] = [
      { name: 'node -e 0', make: () => spawnOk(process.execPath, ['-e', '0'], {}), unmake: () => spawnOk(process.execPath, ['-e', '0'], {}), verify: async () => {} },
      { name: 'driver init', make: () => spawnOk(executable, ['init'], env), unmake: () => spawnOk(executable, ['init'], env), verify: async () => {} },
      { name: 'driver init, own process', make: () => spawnOk(executable, ['init'], ownProcess), unmake: () => spawnOk(executable, ['init'], ownProcess), verify: async () => {} },
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
      {
        name: 'driver mount / unmount, own process',
        make: () => spawnOk(executable, ['mount', measured, json(measuredUid)], ownProcess),
        unmake: () => spawnOk(executable, ['unmount', measured], ownProcess),
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
    const helperRss = await rssOf(helperPid);
    if (!(await waitForHelpers(helperDir, 1)).includes(helperPid)) throw new Error('the resident helper did not serve the whole run');
    await spawnOk(executable, ['unmount', await podDir(holderUid)], env);
    await stopHelpers(helperDir);

    const node = summarize([...results.get('node -e 0')!.make, ...results.get('node -e 0')!.unmake]);
    const init = summarize([...results.get('driver init')!.make, ...results.get('driver init')!.unmake]);
    const bareMount = summarize(results.get('bare mount --bind / umount')!.make);
    const bareUmount = summarize(results.get('bare mount --bind / umount')!.unmake);
    const mountCall = summarize(results.get('driver mount / unmount')!.make);
    const unmountCall = summarize(results.get('driver mount / unmount')!.unmake);
    const ownInit = summarize([...results.get('driver init, own process')!.make, ...results.get('driver init, own process')!.unmake]);
    const ownMount = summarize(results.get('driver mount / unmount, own process')!.make);
    const ownUnmount = summarize(results.get('driver mount / unmount, own process')!.unmake);
    const crowdedNode = summarize([...crowded.get('node -e 0')!.make, ...crowded.get('node -e 0')!.unmake]);
    const crowdedMount = summarize(crowded.get('driver mount / unmount')!.make);
    const crowdedUnmount = summarize(crowded.get('driver mount / unmount')!.unmake);
    const mountBudget = 1.5 * node.median + bareMount.median;
    const unmountBudget = 1.5 * node.median + bareUmount.median;
    const row = (name: string, s: ReturnType<typeof summarize>) => [name, ms(s.median), ms(s.p99), `${(s.median / node.median).toFixed(2)}×`];

    const markdown = [
      `Each figure is a whole process as kubelet runs it (spawn, run, exit), ${samples} samples of each, interleaved in one run; the driver is the bind test driver built into a single executable (Node SEA: a small launcher, the driver bundle and its code cache as assets), called with a minimal environment and logging to a file. A call is answered by the driver's resident helper when one serves (every call but the first on a node, or the first after the helper retired), else in its own process, which then starts the helper; "own process" rows are calls with SHAREMOUNT_HELPER=off, which is what such a first call costs.`,
      '',
      table(['process', 'median', 'p99', 'vs node -e 0'], [
        row('`node -e 0`', node),
        row('driver `init`', init),
        row('bare `mount --bind`', bareMount),
        row('bare `umount`', bareUmount),
        row('driver `mount` (one bind publication)', mountCall),
        row('driver `unmount` (one unpublication)', unmountCall),
        row('driver `init`, own process', ownInit),
        row('driver `mount`, own process', ownMount),
        row('driver `unmount`, own process', ownUnmount),
      ]),
      '',
      `- Target: \`mount\` ≤ 1.5 × \`node -e 0\` + bare \`mount --bind\` = ${ms(mountBudget)}; measured ${ms(mountCall.median)}: ${verdict(mountCall.median <= mountBudget)}.`,
      `- Target: \`unmount\` ≤ 1.5 × \`node -e 0\` + bare \`umount\` = ${ms(unmountBudget)}; measured ${ms(unmountCall.median)}: ${verdict(unmountCall.median <= unmountBudget)}.`,
      `- A call answered in its own process (the first on a node): \`mount\` ${ms(ownMount.median)} (${(ownMount.median / node.median).toFixed(2)}× \`node -e 0\`), \`unmount\` ${ms(ownUnmount.median)}; it evaluates the driver (zod, execa, pino, the core) and runs every function for the first time, which the helper did once.`,
      `- With ${unrelatedMountCount.toLocaleString('en-US')} unrelated mounts added to the namespace (${Math.max(10, Math.round(samples / 2))} samples each, \`node -e 0\` ${ms(crowdedNode.median)}): \`mount\` ${ms(crowdedMount.median)} (p99 ${ms(crowdedMount.p99)}), \`unmount\` ${ms(crowdedUnmount.median)} (p99 ${ms(crowdedUnmount.p99)}). Each call reconciles its share, which parses only that share's filesystem's lines of the mount table; the kernel still writes the whole table (about 330 KB) for the one read.`,
      `- The resident helper's memory at the end of the run: ${helperRss} RSS, one process per driver on the node; the same process answered every call of the run that did not set SHAREMOUNT_HELPER=off.`,
      '',
      describePhases([['calls', plainPhase], [`with ${unrelatedMountCount.toLocaleString('en-US')} unrelated mounts`, crowdedPhase]]),
    ].join('\n');
    return { title: 'FlexVolume calls as processes', markdown };
  } finally {
    await stopHelpers(ws.path('helper'));
    await ws.dispose();
  }
}

/** VmRSS of a process, as /proc reports it. */
async function rssOf(pid: number): Promise<string> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  return `${(kb / 1024).toFixed(1)} MiB`;
}
