import { createHash } from 'node:crypto';
import * as z from '../../zod.js';
import { invalidArgument } from '../../errors.js';

/**
 * lvm2's own rules for VG and LV names (lvm(8) "VALID NAMES", lib/misc/lvm-string.c), checked
 * before any name reaches a command line: a name lvm2 would refuse gets INVALID_ARGUMENT naming
 * the field instead of a command failure, and no name can be read as an option or a path.
 */

/** lvm2's NAME_LEN is 128 bytes including the terminating NUL. */
export const maxNameLength = 127;

const nameCharacters = /^[A-Za-z0-9+_.-]+$/;

// Substrings lvm2 keeps for its internal sub-LVs (cache, integrity, mirror, raid, thin, VDO,
// writecache). The list is the union of lvm(8) and the strings in the lvm2 2.03 binary.
const reservedLvSubstrings = [
  '_cdata', '_cmeta', '_corig', '_cpool', '_cvol', '_imeta', '_iorig', '_mimage', '_mlog',
  '_pmspare', '_rimage', '_rmeta', '_tdata', '_tmeta', '_vdata', '_vorigin', '_wcorig',
] as const;
const reservedLvPrefixes = ['snapshot', 'pvmove'] as const;

/** Why `name` is not a valid VG name, or undefined when it is. */
export function vgNameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (name.length > maxNameLength) return `is longer than ${maxNameLength} characters`;
  if (!nameCharacters.test(name)) return 'may contain only A-Z a-z 0-9 + _ . -';
  if (name.startsWith('-')) return 'must not start with "-"';
  if (name === '.' || name === '..') return 'must not be "." or ".."';
  return undefined;
}

/** Why `name` is not a valid LV name, or undefined when it is. */
export function lvNameProblem(name: string): string | undefined {
  const basic = vgNameProblem(name);
  if (basic !== undefined) return basic;
  for (const prefix of reservedLvPrefixes) if (name.startsWith(prefix)) return `must not start with "${prefix}" (reserved by lvm2)`;
  for (const part of reservedLvSubstrings) if (name.includes(part)) return `must not contain "${part}" (reserved by lvm2)`;
  return undefined;
}

const hashLength = 16;

/**
 * The LV a CSI name (a volume's or a snapshot's) gets in `vg`: the name itself when it is a valid
 * LV name and `vg/name` fits `maxIdBytes`; else its LV-name characters, cut to fit, and a hash
 * of the whole name. The same name always gives the same LV, so creation stays idempotent by
 * name, and any CSI name (128 characters of anything) gets a valid, short one.
 */
export function lvNameOf(name: string, vg: string, maxIdBytes: number): string {
  if (lvNameProblem(name) === undefined && Buffer.byteLength(`${vg}/${name}`) <= maxIdBytes) return name;
  const room = Math.min(maxNameLength, maxIdBytes - vg.length - 1);
  if (room < hashLength) throw invalidArgument('parameters.volumeGroup', `is too long: with it a volume id has no room for a logical volume name (${maxIdBytes} bytes in all)`);
  const hash = createHash('sha256').update(name).digest('hex').slice(0, hashLength);
  // No "_" (every reserved sub-LV suffix has one) and no "+"; no leading "-" or "."; never a reserved prefix.
  let readable = name.replace(/[^A-Za-z0-9.-]/g, '-').replace(/^[-.]+/, '');
  if (reservedLvPrefixes.some((prefix) => readable.startsWith(prefix))) readable = `v-${readable}`;
  readable = readable.slice(0, Math.max(0, room - hashLength - 1));
  return readable === '' ? hash : `${readable}-${hash}`;
}

/** A volume group name (zod). */
export const vgNameSchema = z.string().check(
  z.superRefine((name, ctx) => {
    const problem = vgNameProblem(name);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `volume group name ${problem}` });
  }),
);

/** A logical volume name (zod). */
export const lvNameSchema = z.string().check(
  z.superRefine((name, ctx) => {
    const problem = lvNameProblem(name);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `logical volume name ${problem}` });
  }),
);

// lvm(8) TAGS: A-Z a-z 0-9 _ + . - / = ! : # & and at most 1024 characters.
const tagCharacters = /^[A-Za-z0-9_+.\-/=!:#&]+$/;
export const maxTagLength = 1024;

/** Why `tag` is not a valid LVM tag, or undefined when it is. */
export function tagProblem(tag: string): string | undefined {
  if (tag === '') return 'is empty';
  if (tag.length > maxTagLength) return `is longer than ${maxTagLength} characters`;
  if (!tagCharacters.test(tag)) return 'may contain only A-Z a-z 0-9 _ + . - / = ! : # &';
  if (tag.startsWith('-')) return 'must not start with "-"';
  return undefined;
}
