import { spawn } from 'node:child_process';
import { mkdir, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * A stand-in for kubelet's FlexVolume code (pkg/volume/flexvolume), to call a BUILT driver
 * executable exactly as kubelet does: argv `<exe> <call> <args...>` with every JSON argument one
 * element (Go's json.Marshal of a map[string]string), no stdin, stdout and stderr read merged,
 * the reply judged by its status, and kubelet's own steps around mount and unmount.
 */

/** Go's `json.Marshal(map[string]string)`: keys sorted by bytes, `<`, `>`, `&`, U+2028/9 escaped. */
export function goJsonMarshal(map: Readonly<Record<string, string>>): string {
  const keys = Object.keys(map).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return `{${keys.map((key) => `${goString(key)}:${goString(map[key]!)}`).join(',')}}`;
}

function goString(text: string): string {
  let out = '"';
  for (const ch of text.toWellFormed()) {
    const code = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || ch === '<' || ch === '>' || ch === '&' || code === 0x2028 || code === 0x2029) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** A pod as kubelet describes it in the JSON argument of `mount`. */
export interface PodInfo {
  name: string;
  namespace: string;
  uid: string;
  serviceAccount?: string;
  fsGroup?: number;
}

export interface VolumeInfo {
  /** The volume spec's `options`, merged last (they overwrite kubelet's keys). */
  options: Record<string, string>;
  fsType?: string;
  readOnly?: boolean;
  /** The secret's data (plain); kubelet sends each value base64-encoded. */
  secret?: Record<string, string>;
  /** PV name, or the inline volume's name. */
  pvOrVolumeName: string;
}

/** The JSON argument of `mount`, key for key as kubelet's mounter builds it. */
export function mountOptionsJson(pod: PodInfo, volume: VolumeInfo): string {
  const map: Record<string, string> = {
    'kubernetes.io/fsType': volume.fsType ?? '',
    'kubernetes.io/readwrite': volume.readOnly ? 'ro' : 'rw',
    'kubernetes.io/pvOrVolumeName': volume.pvOrVolumeName,
    'kubernetes.io/pod.name': pod.name,
    'kubernetes.io/pod.namespace': pod.namespace,
    'kubernetes.io/pod.uid': pod.uid,
    'kubernetes.io/serviceAccount.name': pod.serviceAccount ?? 'default',
  };
  if (pod.fsGroup !== undefined) map['kubernetes.io/mounterArgs.FsGroup'] = String(pod.fsGroup);
  for (const [key, value] of Object.entries(volume.secret ?? {})) map[`kubernetes.io/secret/${key}`] = Buffer.from(value).toString('base64');
  Object.assign(map, volume.options);
  return goJsonMarshal(map);
}

/** One run of the driver, as kubelet sees it and as a test wants to inspect it. */
export interface DriverRun {
  args: readonly string[];
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** What kubelet parses: stdout and stderr together. */
  output: string;
  /** The parsed reply, or undefined when the output is not one JSON value. */
  reply: Record<string, unknown> | undefined;
  /** kubelet's verdict (driver-call.go): success, not supported, or failure with its message. */
  verdict: { kind: 'success' } | { kind: 'not-supported' } | { kind: 'failure'; message: string };
}

export interface KubeletOptions {
  /** The installed driver executable: `<plugin-dir>/<vendor~driver>/<driver>`. */
  executable: string;
  /** `vendor~driver`, the directory name under a pod's `volumes/`. */
  driverDir: string;
  /** kubelet's root dir (`/var/lib/kubelet`); pods live in `<root>/pods`. */
  kubeletRoot: string;
  /** The driver's whole environment (kubelet's is inherited; tests pass a minimal one). */
  env: Record<string, string>;
}

/** Runs the driver once, without a shell, with exactly `env`, and judges the reply like kubelet. */
export function callDriver(executable: string, args: readonly string[], env: Record<string, string>): Promise<DriverRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(executable, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const merged: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => (out.push(chunk), merged.push(chunk)));
    child.stderr.on('data', (chunk: Buffer) => (err.push(chunk), merged.push(chunk)));
    child.once('error', reject);
    child.once('close', (exitCode, signal) => {
      const output = Buffer.concat(merged).toString('utf8');
      const reply = parseReply(output);
      resolve({ args, exitCode, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), output, reply, verdict: judge(reply, output, exitCode) });
    });
  });
}

function parseReply(output: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(output); // Go's json.Unmarshal: one value, whitespace around it only
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

// driver-call.go: a non-zero exit fails the call unless the reply says otherwise (Not supported
// is honoured either way); a reply that does not parse fails it; the status decides the rest.
function judge(reply: Record<string, unknown> | undefined, output: string, exitCode: number | null): DriverRun['verdict'] {
  if (reply === undefined) return { kind: 'failure', message: `failed to unmarshal output for command: ${JSON.stringify(output.slice(0, 200))}` };
  if (reply.status === 'Not supported') return { kind: 'not-supported' };
  if (reply.status === 'Success') return exitCode === 0 ? { kind: 'success' } : { kind: 'failure', message: `exit code ${exitCode} with status Success` };
  return { kind: 'failure', message: String(reply.message ?? '') };
}

/** What kubelet did for one volume operation: the driver call, or why it made none. */
export interface VolumeOperation {
  /** The driver run, undefined when kubelet skipped the call. */
  run: DriverRun | undefined;
  skipped?: 'already-mounted' | 'does-not-exist';
  /** kubelet's outcome: the volume is set up / torn down, or the error it would report. */
  ok: boolean;
  error?: string;
}

/** kubelet's volume manager for one FlexVolume driver, reduced to the steps it takes around the calls. */
export class FakeKubelet {
  constructor(readonly options: KubeletOptions) {}

  /** `<kubelet-root>/pods/<podUID>/volumes/<vendor~driver>/<volumeName>`. */
  podVolumeDir(podUid: string, volumeName: string): string {
    return join(this.options.kubeletRoot, 'pods', podUid, 'volumes', this.options.driverDir, volumeName);
  }

  call(...args: string[]): Promise<DriverRun> {
    return callDriver(this.options.executable, args, this.options.env);
  }

  /**
   * SetUpAt: create the dir (0750), skip the driver when the dir already looks like a mount
   * point (its device differs from its parent's, following symlinks), call `mount`, and on a
   * failure remove the dir again.
   */
  async mountVolume(pod: PodInfo, volumeName: string, volume: VolumeInfo): Promise<VolumeOperation> {
    const dir = this.podVolumeDir(pod.uid, volumeName);
    await mkdir(dirname(dir), { recursive: true, mode: 0o750 });
    await mkdir(dir, { mode: 0o750 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    if (!(await isLikelyNotMountPoint(dir))) return { run: undefined, skipped: 'already-mounted', ok: true };
    const run = await this.call('mount', dir, mountOptionsJson(pod, volume));
    if (run.verdict.kind === 'success') return { run, ok: true };
    await removeAll(dir).catch(() => {});
    return { run, ok: false, error: run.verdict.kind === 'failure' ? run.verdict.message : 'Not supported' };
  }

  /**
   * TearDownAt: skip `unmount` when the dir does not exist (a dangling symlink counts as not
   * existing), call it, then remove the dir (rmdir for a directory, unlink for a symlink); a
   * non-empty directory makes tear-down fail. As mount-utils' PathExists, a stat that fails on a
   * corrupted mount (ENOTCONN, ESTALE, EIO...) counts as existing, so `unmount` is still called.
   */
  async unmountVolume(podUid: string, volumeName: string): Promise<VolumeOperation> {
    const dir = this.podVolumeDir(podUid, volumeName);
    const exists = await stat(dir).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (corruptedMountErrors.has(error.code ?? '')) return true;
        if (error.code === 'ENOENT') return false;
        throw error;
      },
    );
    let run: DriverRun | undefined;
    if (exists) {
      run = await this.call('unmount', dir);
      if (run.verdict.kind === 'failure') return { run, ok: false, error: run.verdict.message };
    }
    try {
      await removeAll(dir);
    } catch (error) {
      return { run, ok: false, error: `removing ${dir}: ${(error as Error).message}` };
    }
    return { run, ...(exists ? {} : { skipped: 'does-not-exist' as const }), ok: true };
  }
}

/** The errors mount-utils' IsCorruptedMnt takes for a mount whose server or daemon is gone. */
const corruptedMountErrors = new Set(['ENOTCONN', 'ESTALE', 'EIO', 'EACCES', 'EHOSTDOWN', 'EWOULDBLOCK']);

/** mount-utils' IsLikelyNotMountPoint: stat (following symlinks) of the dir and its parent. */
export async function isLikelyNotMountPoint(dir: string): Promise<boolean> {
  const [own, parent] = await Promise.all([stat(dir), stat(dirname(dir))]);
  return own.dev === parent.dev;
}

// os.Remove: unlink, and rmdir when it is a directory; never recursive.
async function removeAll(path: string): Promise<void> {
  try {
    await rm(path); // unlinks a file or a symlink
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code !== 'ERR_FS_EISDIR' && code !== 'EISDIR') throw error;
    await rmdir(path);
  }
}
