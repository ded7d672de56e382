import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { run } from '../../src/exec.js';
import { readMountInfo } from '../../src/mountinfo.js';
import { deviceNumber } from '../../src/backends/lvm/device.js';
import { lvmCli, type LvmCli, type LvmCliOptions } from '../../src/backends/lvm/lvm-cli.js';
import { pvsArgs, segmentsArgs } from '../../src/backends/lvm/commands.js';
import { parsePvReport, parseSegmentReport } from '../../src/backends/lvm/reports.js';
import type { LvmBackendOptions } from '../../src/backends/lvm.js';
import { Mutex } from 'async-mutex';

/**
 * Real lvm2 on a machine without device-mapper, isolated from the host's LVM:
 * - a sparse image file attached to a loop device is the only PV of a fresh VG;
 * - a private `LVM_SYSTEM_DIR` whose lvm.conf accepts only that loop device, keeps backups,
 *   archives and locks in the temp dir, and never touches /etc/lvm or udev;
 * - `--config global/activation=0` on every command, since activation needs device-mapper;
 * - an "active LV" is a loop device over the image at the LV's offset in the PV (pe_start +
 *   first extent * extent size) and of its size, resized in place when the LV grows, the way
 *   lvextend reloads a real LV's table, and with its first 4 KiB zeroed when first seen, as
 *   lvcreate --zero y does where it can activate. Linear LVs in one contiguous run only.
 * `cleanup` unmounts what still shows its loop devices and detaches only the loop devices it
 * attached, even after a failed test.
 */
export interface LvmTestEnv {
  dir: string;
  vg: string;
  /** The PV: a loop device over `image`. */
  pv: string;
  image: string;
  /** Isolation for lvm2, to hand to the backend. */
  lvmOptions: LvmCliOptions;
  /** lvm2 with that isolation, for the test's own checks. */
  lvm: LvmCli;
  /** The stand-in block device of an LV (attached on first use, grown when the LV grew). */
  standIn(vg: string, lv: string): Promise<string>;
  /** Options for `lvmBackend` that use the isolation and the stand-ins. */
  backendOptions(): LvmBackendOptions;
  cleanup(): Promise<void>;
}

const commands = ['lvm', 'losetup', 'blkid', 'mkfs.ext4', 'mkfs.xfs', 'resize2fs', 'xfs_growfs', 'e2fsck', 'perl'];

/** What the LVM integration tests need and this machine lacks; undefined when nothing. */
export function missingLvmPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'root (loop devices, real mounts)';
  for (const command of commands) {
    if (!['/usr/sbin', '/sbin', '/usr/bin', '/bin'].some((dir) => existsSync(join(dir, command)))) return `the ${command} command`;
  }
  if (!existsSync('/dev/loop-control')) return '/dev/loop-control (loop devices)';
  return undefined;
}

/**
 * `prefix` plus a random suffix: a VG name that two runs of the suite on one machine never
 * share, for a test that puts the VG's name in a host-wide place such as /dev/<vg>. (The VG
 * itself is isolated anyway: each env's lvm.conf accepts only its own loop device.)
 */
export function uniqueVgName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Creates the isolated PV + VG. `sizeBytes` is sparse: only written blocks cost disk. */
export async function createLvmEnv(options: { vg?: string; sizeBytes?: number } = {}): Promise<LvmTestEnv> {
  const vg = options.vg ?? 'smtest';
  const dir = await mkdtemp(join(tmpdir(), 'sharemount-lvm-'));
  const loops: string[] = [];
  const standIns = new Map<string, { device: string; offset: number; size: number }>();
  const cleanup = async () => {
    await detachAll(loops);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const image = join(dir, 'pv.img');
    await writeFile(image, '');
    await truncate(image, options.sizeBytes ?? 2 * 1024 ** 3);
    const pv = await attach(loops, ['--find', '--show', image]);
    const systemDir = join(dir, 'etc');
    for (const sub of ['etc', 'backup', 'archive', 'lock', 'run']) await mkdir(join(dir, sub));
    await writeFile(join(systemDir, 'lvm.conf'), lvmConf(dir, pv));
    const lvmOptions: LvmCliOptions = { env: { LVM_SYSTEM_DIR: systemDir }, configArgs: ['--config', 'global/activation=0'], timeoutMs: 60_000 };
    const lvm = lvmCli(lvmOptions);
    await lvm('pvcreate', ['--yes', '--', pv]);
    await lvm('vgcreate', ['--yes', '--', vg, pv]);

    // One at a time: two shares of one LV mounting at once must get the same loop device, as
    // they would get the same /dev/<vg>/<lv> (two loop devices over one range keep two caches).
    const standInLock = new Mutex();
    const standIn = (vgName: string, lv: string): Promise<string> => standInLock.runExclusive(() => findOrAttach(vgName, lv));
    const findOrAttach = async (vgName: string, lv: string): Promise<string> => {
      const pvRow = parsePvReport(await lvm('pvs', pvsArgs())).find((row) => row.vg_name === vgName && row.pv_name === pv);
      if (pvRow === undefined) throw new Error(`no PV in ${vgName}`);
      const segments = parseSegmentReport(await lvm('lvs', segmentsArgs(vgName, lv), { vg: vgName, lv }));
      const { first, count } = extentRun(segments, pv);
      const offset = pvRow.pe_start + first * pvRow.vg_extent_size;
      const size = count * pvRow.vg_extent_size;
      const uuid = segments[0]!.lv_uuid; // a removed and re-created LV of the same name is another LV
      const known = standIns.get(uuid);
      if (known !== undefined && known.offset === offset) {
        if (known.size !== size) await setLoopSizeLimit(known.device, size);
        known.size = size;
        return known.device;
      }
      // A new LV: do what lvcreate --zero y does on a machine with device-mapper (it cannot here)
      // and clear its first 4 KiB, so the extents of a removed LV never show its old filesystem.
      await zeroRange(image, offset, Math.min(4096, size));
      const device = await attach(loops, ['--find', '--show', '--offset', String(offset), '--sizelimit', String(size), image]);
      standIns.set(uuid, { device, offset, size });
      return device;
    };

    return {
      dir,
      vg,
      pv,
      image,
      lvmOptions,
      lvm,
      standIn,
      backendOptions: () => ({ lvm: lvmOptions, devicePath: standIn, activeDevicePath: standIn }),
      cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

function lvmConf(dir: string, pv: string): string {
  const only = `[ "a|^${pv}$|", "r|.*|" ]`;
  return `# sharemount test: this VG only, nothing in /etc/lvm or /run/lvm, no udev, no daemons
devices {
  filter = ${only}
  global_filter = ${only}
  use_devicesfile = 0
  obtain_device_list_from_udev = 0
  external_device_info_source = "none"
  hints = "none"
}
global {
  locking_dir = "${dir}/lock"
  use_lvmlockd = 0
  use_lvmpolld = 0
  event_activation = 0
  system_id_source = "none"
}
activation {
  udev_sync = 0
  udev_rules = 0
  monitoring = 0
}
backup {
  backup = 1
  backup_dir = "${dir}/backup"
  archive = 1
  archive_dir = "${dir}/archive"
}
log {
  syslog = 0
}
`;
}

/** The LV's extents as one run on `pv`; throws for layouts a single loop device cannot show. */
export function extentRun(segments: ReadonlyArray<{ seg_pe_ranges: string }>, pv: string): { first: number; count: number } {
  let first: number | undefined;
  let next: number | undefined;
  for (const segment of segments) {
    const match = /^(.+):(\d+)-(\d+)$/.exec(segment.seg_pe_ranges.trim());
    if (!match || match[1] !== pv) throw new Error(`cannot stand in for segment "${segment.seg_pe_ranges}" (only linear LVs on ${pv})`);
    const start = Number(match[2]);
    const end = Number(match[3]);
    if (next !== undefined && start !== next) throw new Error('cannot stand in for an LV whose extents are not contiguous');
    first ??= start;
    next = end + 1;
  }
  if (first === undefined || next === undefined) throw new Error('the LV has no segments');
  return { first, count: next - first };
}

async function zeroRange(file: string, offset: number, length: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    await handle.write(Buffer.alloc(length), 0, length, offset);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function attach(loops: string[], args: string[]): Promise<string> {
  const { stdout } = await run('losetup', args, { timeoutMs: 30_000 });
  const device = stdout.trim();
  if (!/^\/dev\/loop\d+$/.test(device)) throw new Error(`losetup printed "${device}"`);
  loops.push(device);
  return device;
}

/**
 * Changes a bound loop device's size limit in place (LOOP_GET_STATUS64 / LOOP_SET_STATUS64;
 * losetup has no option for it). The kernel allows this while the device is mounted, which is
 * what lets a mounted stand-in grow like an extended LV. perl is part of every Debian system.
 */
async function setLoopSizeLimit(device: string, sizeBytes: number): Promise<void> {
  const script = `
    open(my $fh, '+<', $ARGV[0]) or die "open $ARGV[0]: $!";
    my $info = "\\0" x 232;                           # struct loop_info64
    ioctl($fh, 0x4C05, $info) or die "LOOP_GET_STATUS64: $!";
    substr($info, 32, 8) = pack('Q<', $ARGV[1]);      # lo_sizelimit
    ioctl($fh, 0x4C04, $info) or die "LOOP_SET_STATUS64: $!";`;
  await run('perl', ['-e', script, device, String(sizeBytes)], { timeoutMs: 30_000 });
}

/** Lazily unmounts whatever still shows our devices (a failed test), then detaches them. */
async function detachAll(loops: readonly string[]): Promise<void> {
  const numbers = new Set<string>();
  for (const device of loops) numbers.add(await deviceNumber(device).catch(() => ''));
  const stale = (await readMountInfo()).filter((entry) => numbers.has(entry.device)).reverse();
  for (const entry of stale) await execa('umount', ['--lazy', '--no-canonicalize', '--', entry.mountPoint], { reject: false, timeout: 10_000 });
  for (const device of [...loops].reverse()) await execa('losetup', ['--detach', device], { reject: false, timeout: 30_000 });
}
