import { invalidArgument } from '../../errors.js';

/** Filesystems the LVM backend formats and grows. */
export const fsTypes = ['ext4', 'xfs'] as const;
export type FsType = (typeof fsTypes)[number];

/**
 * `mkfsOptions` as argv for mkfs.ext4 / mkfs.xfs. The value arrives as one string from a
 * StorageClass or FlexVolume options (`-m 0 -E lazy_itable_init=0`). Nothing here runs a shell;
 * the danger is in mkfs's own flags: `-F`/`-f` force a reformat, `-n`/`-N` make it a dry run,
 * `-d`/`-p`/`-c` read host files, `-z` writes one, `-E offset=`, `-J device=` and `-l logdev=`
 * write elsewhere. So each mkfs has an allowlist of flags, each flag's value a checked shape,
 * and sub-option flags (`-E a=1,b`) an allowlist of keys. Every token is returned as its own argv
 * item, and the device is passed after `--`, so no value can be taken for a flag or a path.
 */
type ValueRule =
  | { kind: 'none' }
  | { kind: 'value'; pattern: RegExp; describe: string }
  | { kind: 'suboptions'; keys: ReadonlySet<string> };

const integer: ValueRule = { kind: 'value', pattern: /^[0-9]{1,12}$/, describe: 'a whole number' };
const number: ValueRule = { kind: 'value', pattern: /^[0-9]{1,6}(\.[0-9]{1,6})?$/, describe: 'a number' };
const word = (max: number): ValueRule => ({ kind: 'value', pattern: new RegExp(`^[A-Za-z0-9_.+:][A-Za-z0-9_.+:-]{0,${max - 1}}$`), describe: `a word of at most ${max} characters from A-Z a-z 0-9 _ . + : -` });
const keys = (...names: string[]): ValueRule => ({ kind: 'suboptions', keys: new Set(names) });

const ext4Flags: Record<string, ValueRule> = {
  '-b': integer, // block size
  '-C': integer, // cluster size (bigalloc)
  '-E': keys('stride', 'stripe_width', 'stripe-width', 'resize', 'lazy_itable_init', 'lazy_journal_init', 'assume_storage_prezeroed', 'root_owner', 'discard', 'nodiscard', 'num_backup_sb', 'packed_meta_blocks', 'quotatype', 'encoding', 'encoding_flags', 'orphan_file_size'),
  '-e': { kind: 'value', pattern: /^(continue|remount-ro|panic)$/, describe: 'continue, remount-ro or panic' },
  '-g': integer,
  '-G': integer,
  '-i': integer, // bytes per inode
  '-I': integer, // inode size
  '-j': { kind: 'none' },
  '-J': keys('size', 'fast_commit_size'), // never device= or location=
  '-L': word(16),
  '-m': number, // reserved blocks percentage
  '-N': integer,
  '-O': { kind: 'value', pattern: /^[a-z0-9_^]+(,[a-z0-9_^]+)*$/, describe: 'a comma list of features' },
  '-r': integer,
  '-T': word(32),
  '-U': { kind: 'value', pattern: /^([0-9a-fA-F-]{36}|clear|random|time)$/, describe: 'a UUID, clear, random or time' },
};

const xfsFlags: Record<string, ValueRule> = {
  '-b': keys('size'),
  '-d': keys('agcount', 'agsize', 'su', 'sunit', 'sw', 'swidth', 'noalign', 'cowextsize', 'extszinherit', 'daxinherit', 'projinherit', 'concurrency'),
  '-i': keys('size', 'maxpct', 'align', 'attr', 'projid32bit', 'sparse', 'nrext64', 'exchange'),
  '-l': keys('size', 'su', 'sunit', 'version', 'lazy-count', 'concurrency'), // never logdev=, file or name=
  '-L': word(12),
  '-m': keys('crc', 'finobt', 'uuid', 'rmapbt', 'reflink', 'inobtcount', 'bigtime'),
  '-n': keys('size', 'version', 'ftype', 'parent'),
  '-s': keys('size'),
  '-K': { kind: 'none' },
};

const flagsByFs: Record<FsType, Record<string, ValueRule>> = { ext4: ext4Flags, xfs: xfsFlags };
const suboptionKey = /^[a-z][a-z0-9_-]*$/;
const suboptionValue = /^[A-Za-z0-9_.:+^-]+$/;
const maxInputLength = 1024;

/** Validates `input` for `fsType`'s mkfs and splits it into argv items. */
export function parseMkfsOptions(input: string | undefined, fsType: FsType, field = 'mkfsOptions'): string[] {
  if (input === undefined) return [];
  if (input.length > maxInputLength) throw invalidArgument(field, `is longer than ${maxInputLength} characters`);
  if (!/^[\x20-\x7e]*$/.test(input)) throw invalidArgument(field, 'may contain only printable ASCII characters');
  if (/["'`\\$;|&<>(){}*?]/.test(input)) throw invalidArgument(field, 'contains a quote or shell character: options are plain words separated by spaces, and no shell reads them');
  const tokens = input.trim() === '' ? [] : input.trim().split(/\s+/);
  const flags = flagsByFs[fsType];
  const args: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const flag = tokens[i]!;
    const rule = Object.hasOwn(flags, flag) ? flags[flag] : undefined;
    if (rule === undefined) throw invalidArgument(field, `"${flag}" is not an allowed mkfs.${fsType} option (allowed: ${Object.keys(flags).join(' ')})`);
    args.push(flag);
    if (rule.kind === 'none') continue;
    const value = tokens[++i];
    if (value === undefined) throw invalidArgument(field, `${flag} needs a value`);
    checkValue(flag, value, rule, fsType, field);
    args.push(value);
  }
  return args;
}

function checkValue(flag: string, value: string, rule: ValueRule, fsType: FsType, field: string): void {
  if (value.startsWith('-')) throw invalidArgument(field, `${flag} needs a value, not another option`);
  if (rule.kind === 'value') {
    if (!rule.pattern.test(value)) throw invalidArgument(field, `${flag} must be ${rule.describe}`);
    return;
  }
  if (rule.kind !== 'suboptions') return;
  for (const item of value.split(',')) {
    const eq = item.indexOf('=');
    const key = eq === -1 ? item : item.slice(0, eq);
    if (!suboptionKey.test(key) || !rule.keys.has(key)) {
      throw invalidArgument(field, `${flag} sub-option "${key}" is not allowed for mkfs.${fsType} (allowed: ${[...rule.keys].join(', ')})`);
    }
    if (eq !== -1 && !suboptionValue.test(item.slice(eq + 1))) throw invalidArgument(field, `${flag} sub-option "${key}" has a value outside A-Z a-z 0-9 _ . : + ^ -`);
  }
}
