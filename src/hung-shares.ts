import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as z from './zod.js';
import { SharemountError, isSharemountError } from './errors.js';
import { encodeComponent } from './escape.js';
import { mountAt, readMountInfoText } from './mountinfo.js';
import { readRecord, removeRecord, writeRecord } from './record-file.js';
import { parseRecordText } from './record-text.js';

/**
 * Shares whose filesystem stopped answering. A filesystem call into a hung mount cannot be
 * cancelled: it holds one of libuv's few worker threads until the kernel answers, and enough of
 * them would stall every file operation of the process, other shares' included. So after one
 * timeout the share is marked hung, on disk (`<root>/_hung/<escaped key>`, so that every process
 * of the root knows, a FlexVolume call's as well as the CSI plugin's), and every later call on
 * it fails at once (TIMEOUT, naming the share) instead of paying the bound again under the
 * share's lock: a share that hangs costs one bound, not one per call waiting in line.
 * A probe in the background, a child process of its own that outlives the call that started it
 * (`stat -f` of the share, killed at its bound), clears the mark the moment the share answers
 * (with an error too: a broken share is for heal.ts to mend); once its bound passes, the next
 * call on the share starts another. The mark names the share's mount (its id), so a share
 * mounted afresh since is not taken for the hung one.
 */
export class HungShares {
  /** How long one background probe waits for the share before it gives up (and a later call starts another). */
  static probeSeconds = 60;

  /** Whether the share is marked: its mount (the one with `mountId`) timed out, and has not answered a probe since. */
  has(key: string, sharePath: string, mountId: number | undefined): boolean {
    const marked = readMark(markFile(key, sharePath), key);
    return marked !== undefined && marked.mountId === mountId;
  }

  /** Runs `work` (in-process calls into the share), marking the share when it times out. */
  async guard<T>(key: string, sharePath: string, timeoutMs: number, work: () => Promise<T>): Promise<T> {
    this.failIfHung(key, sharePath);
    try {
      return await work();
    } catch (error) {
      if (isSharemountError(error, 'TIMEOUT')) this.mark(key, sharePath);
      throw error;
    }
  }

  /** Throws TIMEOUT at once when the share is marked hung (starting a probe when none is running). */
  failIfHung(key: string, sharePath: string): void {
    const file = markFile(key, sharePath);
    const marked = readMark(file, key);
    if (marked === undefined) return;
    const mounted = mountAt(readMountInfoText(), sharePath);
    if (mounted === undefined || mounted.id !== marked.mountId) {
      removeRecord(file); // the hung mount is gone: a mark of the past
      return;
    }
    if (Date.now() > marked.probeUntil) this.startProbe(file, { ...marked }, sharePath);
    throw new SharemountError('TIMEOUT', `the share ${key} is hung: it stopped answering at ${marked.since}; calls on it fail at once until a probe sees it answer again`, {
      details: { share: key },
    });
  }

  private mark(key: string, sharePath: string): void {
    const mounted = mountAt(readMountInfoText(), sharePath);
    if (mounted === undefined) return;
    const file = markFile(key, sharePath);
    mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
    this.startProbe(file, { version: 1, key, mountId: mounted.id, since: new Date().toISOString(), probeUntil: 0 }, sharePath);
  }

  private startProbe(file: string, mark: HungMark, sharePath: string): void {
    writeRecord(file, `${JSON.stringify({ ...mark, probeUntil: Date.now() + HungShares.probeSeconds * 1000 })}\n`);
    // Detached and unreferenced: it outlives this call (a FlexVolume process ends with its reply)
    // and keeps nothing here waiting. Positional arguments: no path is ever parsed by the shell.
    const probe = spawn('timeout', ['-s', 'KILL', String(HungShares.probeSeconds), 'sh', '-c', 'stat -f -- "$1" >/dev/null 2>&1; rm -f -- "$2"', 'sharemount-probe', `${sharePath}/.`, file], {
      detached: true,
      stdio: 'ignore',
    });
    probe.on('error', () => {}); // no timeout(1) here: the mark stays until it expires
    probe.unref();
  }
}

const markSchema = z.object({ version: z.literal(1), key: z.string(), mountId: z.number(), since: z.string(), probeUntil: z.number() });
type HungMark = z.infer<typeof markSchema>;

/** The mark's file: the share's mount point is `<root>/<key>/mnt` (state.ts). */
function markFile(key: string, sharePath: string): string {
  const suffix = `/${key}/mnt`;
  if (!sharePath.endsWith(suffix)) throw new Error(`${sharePath} is not the mount point of share ${key}`);
  return join(sharePath.slice(0, -suffix.length), '_hung', encodeComponent(key));
}

function readMark(file: string, key: string): HungMark | undefined {
  const text = readRecord(file);
  if (text === undefined) return undefined;
  const mark = parseRecordText(markSchema, text);
  return mark?.key === key ? mark : undefined;
}
