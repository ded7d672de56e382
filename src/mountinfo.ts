import { readFileSync } from 'node:fs';

/** One line of /proc/self/mountinfo: the kernel's own record of a mount. */
export interface MountInfoEntry {
  id: number;
  parentId: number;
  /** `major:minor` of the filesystem (bind mounts of one filesystem share it). */
  device: string;
  /** The directory of the filesystem that is mounted here (a bind mount's source, within its filesystem). */
  root: string;
  mountPoint: string;
  mountOptions: string[];
  fsType: string;
  source: string;
}

/** Reads the mount table as the kernel sees it from this process's mount namespace. */
export async function readMountInfo(file = '/proc/self/mountinfo'): Promise<MountInfoEntry[]> {
  return parseMountInfo(readMountInfoText(file));
}

/**
 * The mount table's text. procfs writes it from memory: one synchronous read costs less than
 * the thread-pool round trip per 64 KiB chunk of an asynchronous one (5,000 mounts: 330 KB).
 */
export function readMountInfoText(file = '/proc/self/mountinfo'): string {
  return readFileSync(file, 'utf8');
}

/**
 * The lines of the filesystem mounted at `mountPoint`: that mount and every other mount of the
 * same device (its bind mounts among them), or none when nothing is mounted there. Reconciling
 * one share needs no more, and a large table is searched natively instead of parsed line by line.
 */
export function entriesOfFilesystemAt(text: string, mountPoint: string): MountInfoEntry[] {
  const top = mountAt(text, mountPoint);
  if (top === undefined) return [];
  const sameDevice = new RegExp(`^\\d+ \\d+ ${top.device.replace(/[^0-9:]/g, '')} .*$`, 'gm');
  return parseMountInfo((text.match(sameDevice) ?? []).join('\n'));
}

/** The mount visible at `mountPoint` (the last one made there), found by a native search of the table's text. */
export function mountAt(text: string, mountPoint: string): MountInfoEntry | undefined {
  const field = ` ${escapeOctal(mountPoint)} `;
  let top: MountInfoEntry | undefined;
  for (let at = text.indexOf(field); at !== -1; at = text.indexOf(field, at + 1)) {
    const entry = lineAround(text, at);
    if (entry?.mountPoint === mountPoint) top = entry; // the last one mounted there is on top
  }
  return top;
}

/** The mount with the kernel's id `mountId`, found by a native search of the table's text. */
export function mountWithId(text: string, mountId: number): MountInfoEntry | undefined {
  // With a newline in front, a line's start is where "\n<id> " is found.
  const start = `\n${text}`.indexOf(`\n${mountId} `);
  return start === -1 ? undefined : lineAround(text, start);
}

function lineAround(text: string, at: number): MountInfoEntry | undefined {
  const start = text.lastIndexOf('\n', at - 1) + 1;
  const end = text.indexOf('\n', at);
  return parseMountInfo(text.slice(start, end === -1 ? undefined : end))[0];
}

export function parseMountInfo(text: string): MountInfoEntry[] {
  const entries: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (separator === -1 || fields.length < separator + 3) continue;
    entries.push({
      id: Number(fields[0]),
      parentId: Number(fields[1]),
      device: fields[2]!,
      root: unescapeOctal(fields[3]!),
      mountPoint: unescapeOctal(fields[4]!),
      mountOptions: fields[5]!.split(','),
      fsType: fields[separator + 1]!,
      source: unescapeOctal(fields[separator + 2]!),
    });
  }
  return entries;
}

/** How the kernel writes a path in the table: space, tab, newline and backslash as `\ooo`. */
function escapeOctal(path: string): string {
  return path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

/**
 * The kernel writes space, tab, newline and backslash in paths as `\ooo`: ASCII characters, put
 * back as they are. The rest of the text was decoded as UTF-8 when the table was read, and must
 * not be decoded again (a non-ASCII name next to an escape would turn into U+FFFD).
 */
function unescapeOctal(text: string): string {
  if (!text.includes('\\')) return text;
  return text.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/**
 * Mount points to the mount visible there (the last one mounted on a path hides the ones below).
 * Mountinfo lists mounts in the order they were made, so the later entry wins.
 */
export function topMounts(entries: readonly MountInfoEntry[]): Map<string, MountInfoEntry> {
  const top = new Map<string, MountInfoEntry>();
  for (const entry of entries) top.set(entry.mountPoint, entry);
  return top;
}
