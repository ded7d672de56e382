import * as z from '../../zod.js';

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
