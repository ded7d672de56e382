import { mountAt, mountWithId, readMountInfoText } from './mountinfo.js';
import type { OptionList } from './options.js';

/*
 * Per-mount flags: what a mount has of its own, apart from its filesystem (mountinfo's sixth
 * field). A bind mount starts with the flags of the mount it copies, but util-linux 2.38 makes a
 * bind mount with options (`mount --bind -o ro`) in two steps, a bind then a remount, and the
 * remount sets exactly the flags it is given: `nosuid`, `nodev`, `noexec`... of the copied mount
 * are lost unless given again. Every such mount is therefore given the copied mount's flags too.
 */

/** Flags that take something away; a copy keeps them whatever it asks for. */
const restrictive = ['ro', 'nosuid', 'nodev', 'noexec', 'nosymfollow'] as const;
/** What each restrictive flag overrides when a copy asks for it. */
const permissive: Record<(typeof restrictive)[number], string> = { ro: 'rw', nosuid: 'suid', nodev: 'dev', noexec: 'exec', nosymfollow: 'symfollow' };
/** Access-time modes: one per mount; a copy that names none keeps the copied mount's. */
const atimeModes = ['noatime', 'relatime', 'strictatime', 'atime'];

/** The per-mount flags a mountinfo line shows, as mount(8) options (`strictatime` when no atime flag is shown). */
export function flagsOfMount(mountOptions: readonly string[]): string[] {
  const flags = mountOptions.filter((option) => (restrictive as readonly string[]).includes(option) || option === 'noatime' || option === 'relatime' || option === 'nodiratime');
  if (!flags.includes('noatime') && !flags.includes('relatime')) flags.push('strictatime');
  return flags;
}

/**
 * The options for a bind mount of a mount that has `copied` flags, asked to have `requested`:
 * never less restricted than the copied mount (its restrictive flags stay, overriding the
 * permissive ones asked for), with the copied access-time modes unless one is asked for.
 */
export function withCopiedFlags(requested: OptionList, copied: readonly string[]): string[] {
  const options = new Set(requested);
  for (const flag of restrictive) {
    if (!copied.includes(flag)) continue;
    options.delete(permissive[flag]);
    options.add(flag);
  }
  if (!requested.some((option) => atimeModes.includes(option))) for (const mode of copied.filter((flag) => atimeModes.includes(flag))) options.add(mode);
  if (!requested.includes('diratime') && copied.includes('nodiratime')) options.add('nodiratime');
  return [...options].sort();
}

/** Whether a read-only copy of a mount with `copied` flags shows every restriction it must. */
export function isRestrictedCopy(copyOptions: readonly string[], copied: readonly string[]): boolean {
  return ['ro', ...restrictive.filter((flag) => copied.includes(flag))].every((flag) => copyOptions.includes(flag));
}

/** The per-mount flags of what is mounted at `mountPoint`, or undefined when nothing is. */
export function flagsAtMountPoint(mountPoint: string): string[] | undefined {
  const mount = mountAt(readMountInfoText(), mountPoint);
  return mount && flagsOfMount(mount.mountOptions);
}

/** The per-mount flags of the mount with id `mountId`, or undefined when there is none. */
export function flagsOfMountId(mountId: number): string[] | undefined {
  const mount = mountWithId(readMountInfoText(), mountId);
  return mount && flagsOfMount(mount.mountOptions);
}
