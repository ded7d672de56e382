import * as z from '../../zod.js';
import { fromZodError, invalidArgument } from '../../errors.js';
import { canonicalOptions, type OptionList } from '../../options.js';
import type { Source } from '../../backend.js';
import { lvNameProblem, lvNameSchema, tagProblem, vgNameProblem, vgNameSchema } from './names.js';
import { parseQuantity } from './quantity.js';
import { fsTypes, parseMkfsOptions, type FsType } from './mkfs-options.js';

/**
 * One logical volume as a share source. `fsType` is what the device must hold (it is formatted
 * with it when blank); without it, whatever ext4 or xfs filesystem is there is mounted, and a
 * blank device gets ext4. `mkfsOptions` are used only when the device is formatted.
 */
export interface LvmSource extends Source {
  backend: 'lvm';
  vg: string;
  lv: string;
  fsType?: FsType;
  mkfsOptions?: string;
}

/** The LVM source schema (zod): lvm2's name rules, and mkfsOptions checked for the fsType. */
export const lvmSourceSchema: z.ZodMiniType<LvmSource> = z
  .strictObject({
    backend: z.literal('lvm'),
    vg: vgNameSchema,
    lv: lvNameSchema,
    fsType: z.optional(z.enum(fsTypes)),
    mkfsOptions: z.optional(z.string()),
  })
  .check(z.superRefine((source, ctx) => {
    if (source.mkfsOptions === undefined) return;
    if (source.fsType === undefined) {
      ctx.addIssue({ code: 'custom', path: ['mkfsOptions'], message: 'needs fsType: the options belong to one mkfs' });
      return;
    }
    try {
      parseMkfsOptions(source.mkfsOptions, source.fsType);
    } catch (error) {
      ctx.addIssue({ code: 'custom', path: ['mkfsOptions'], message: (error as Error).message.replace(/^mkfsOptions: /, '') });
    }
  }));

/** Validated volume parameters (what `lvmParametersSchema` outputs). */
export interface LvmParameters {
  volumeGroup: string;
  /** The LV to publish; createVolume's context carries it, a pre-made LV names it. */
  logicalVolume?: string;
  /** Bytes, from a Kubernetes quantity (`1Gi`, `500M`) or a byte count. */
  size?: number;
  fsType: FsType;
  mkfsOptions?: string;
  /** Thin pool (an LV of the same VG) to create volumes in; linear LVs without it. */
  thin?: string;
  /** Tags added to created LVs. */
  tags: string[];
  /** Mount options for the share (canonical set). */
  mountOptions: OptionList;
}

const maxTags = 32;

/**
 * Volume parameters as drivers receive them: flat strings (StorageClass parameters, CSI volume
 * context, FlexVolume options). Parsing its own output again gives the same value, so every
 * backend method can re-validate what it is handed. Unknown keys are refused, so a misspelt
 * `fstype` is an error rather than a silent ext4.
 */
const lvmParameterFields = z.strictObject({
  volumeGroup: vgNameSchema,
  logicalVolume: z.optional(lvNameSchema),
  size: z.optional(z.union([z.string(), z.number()])),
  fsType: z._default(z.enum(fsTypes), 'ext4'),
  mkfsOptions: z.optional(z.string()),
  thin: z.optional(lvNameSchema),
  tags: z.optional(z.union([z.string(), z.array(z.string())])),
  mountOptions: z.optional(z.union([z.string(), z.array(z.string())])),
});

export const lvmParametersSchema = z.pipe(
  lvmParameterFields,
  z.transform((raw: z.output<typeof lvmParameterFields>, ctx): LvmParameters => {
    const out: LvmParameters = { volumeGroup: raw.volumeGroup, fsType: raw.fsType, tags: [], mountOptions: [] };
    if (raw.logicalVolume !== undefined) out.logicalVolume = raw.logicalVolume;
    if (raw.thin !== undefined) out.thin = raw.thin;
    try {
      if (raw.size !== undefined) out.size = toBytes(raw.size);
      if (raw.mkfsOptions !== undefined) {
        parseMkfsOptions(raw.mkfsOptions, raw.fsType);
        out.mkfsOptions = raw.mkfsOptions;
      }
      out.tags = toTags(raw.tags);
      out.mountOptions = canonicalOptions(raw.mountOptions, 'mountOptions');
    } catch (error) {
      const field = (error as { field?: string }).field ?? 'parameters';
      const message = (error as Error).message;
      const path = field.split(/[[\].]/).filter(Boolean).map((part) => (/^\d+$/.test(part) ? Number(part) : part));
      ctx.issues.push({ code: 'custom', path, message: message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message, input: raw });
      return z.NEVER;
    }
    return out;
  }),
);

/**
 * Parameters as a caller may hand them over: flat strings as drivers receive them (a CSI volume
 * context is a `Record<string, string>`), or already parsed. Every method validates them again.
 */
export type LvmParametersInput = z.input<typeof lvmParametersSchema> | LvmParameters | Record<string, string>;

/** Parses raw or already-parsed parameters; INVALID_ARGUMENT names the field (`parameters.size`). */
export function parseLvmParameters(input: unknown): LvmParameters {
  const result = lvmParametersSchema.safeParse(input);
  if (!result.success) throw fromZodError(result.error, 'parameters');
  return result.data;
}

function toBytes(size: string | number): number {
  if (typeof size === 'number') {
    if (!Number.isSafeInteger(size) || size <= 0) throw invalidArgument('size', 'must be a whole positive number of bytes');
    return size;
  }
  return parseQuantity(size, 'size');
}

function toTags(tags: string | string[] | undefined): string[] {
  if (tags === undefined) return [];
  const list = (typeof tags === 'string' ? tags.split(',') : tags).map((t) => t.trim()).filter((t) => t !== '');
  if (list.length > maxTags) throw invalidArgument('tags', `has more than ${maxTags} tags`);
  list.forEach((tag, index) => {
    const problem = tagProblem(tag);
    if (problem !== undefined) throw invalidArgument(`tags[${index}]`, `tag ${problem}`);
  });
  return [...new Set(list)].sort();
}

/** A volume id is `<vg>/<lv>`: both names exclude `/`, so the split is unambiguous. */
export function formatVolumeId(vg: string, lv: string): string {
  return `${vg}/${lv}`;
}

/** Parses `<vg>/<lv>`, or a bare `<lv>` in `defaultVg`; INVALID_ARGUMENT naming `volumeId`. */
export function parseVolumeId(volumeId: unknown, defaultVg?: string): { vg: string; lv: string } {
  if (typeof volumeId !== 'string') throw invalidArgument('volumeId', 'must be a string');
  const parts = volumeId.split('/');
  const [vg, lv] = parts.length === 2 ? [parts[0]!, parts[1]!] : parts.length === 1 && defaultVg !== undefined ? [defaultVg, parts[0]!] : [undefined, undefined];
  if (vg === undefined || lv === undefined) throw invalidArgument('volumeId', 'must be "<volume group>/<logical volume>"');
  const vgProblem = vgNameProblem(vg);
  if (vgProblem !== undefined) throw invalidArgument('volumeId', `volume group name ${vgProblem}`);
  const lvProblem = lvNameProblem(lv);
  if (lvProblem !== undefined) throw invalidArgument('volumeId', `logical volume name ${lvProblem}`);
  return { vg, lv };
}
