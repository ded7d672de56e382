import * as z from '../../zod.js';
import { SharemountError } from '../../errors.js';

/**
 * lvm2's JSON reports (`--reportformat json --units b --nosuffix`), validated with zod: a
 * changed or truncated report is an INTERNAL error naming the report, never a wrong number.
 * lvm2 prints every value as a string, sizes in bytes.
 */
const bytes = z.pipe(z.string().check(z.regex(/^\d+$/, 'must be a byte count')), z.transform(Number)).check(z.refine(Number.isSafeInteger, 'is too large'));
const percent = z.pipe(
  z.string().check(z.regex(/^(\d+(\.\d+)?)?$/, 'must be a percentage or empty')),
  z.transform((text: string) => (text === '' ? undefined : Number(text))),
);
const kernelNumber = z.pipe(z.string().check(z.regex(/^-?\d+$/)), z.transform(Number));

const report = <T extends z.ZodMiniType>(key: string, row: T) =>
  z.pipe(
    z.object({ report: z.array(z.object({ [key]: z.array(row) })).check(z.minLength(1)) }),
    z.transform((r: { report: Array<Record<string, z.output<T>[]>> }) => r.report.flatMap((part) => part[key]!)),
  );

/** Fields asked of `vgs`. */
export const vgFields = ['vg_name', 'vg_size', 'vg_free', 'vg_extent_size'] as const;
const vgRow = z.object({ vg_name: z.string(), vg_size: bytes, vg_free: bytes, vg_extent_size: bytes });
export type VgRow = z.output<typeof vgRow>;

/** Fields asked of `lvs`. */
export const lvFields = ['lv_name', 'vg_name', 'lv_size', 'lv_tags', 'pool_lv', 'segtype', 'data_percent', 'lv_kernel_major', 'lv_kernel_minor', 'origin', 'lv_time'] as const;
const lvRow = z.object({
  lv_name: z.string(),
  vg_name: z.string(),
  lv_size: bytes,
  lv_tags: z.pipe(z.string(), z.transform((tags: string) => (tags === '' ? [] : tags.split(',')))),
  pool_lv: z.string(),
  segtype: z.string(),
  data_percent: percent,
  lv_kernel_major: kernelNumber,
  lv_kernel_minor: kernelNumber,
  // A snapshot's origin LV ('' for others), and when the LV was made ("2026-12-06 17:50:42 +0000").
  origin: z._default(z.string(), ''),
  lv_time: z._default(z.string(), ''),
});
export type LvRow = z.output<typeof lvRow>;

/** Fields asked of `pvs` (the test helper maps LVs to PV offsets with them). */
export const pvFields = ['pv_name', 'vg_name', 'pe_start', 'vg_extent_size'] as const;
const pvRow = z.object({ pv_name: z.string(), vg_name: z.string(), pe_start: bytes, vg_extent_size: bytes });
export type PvRow = z.output<typeof pvRow>;

/** Fields asked of `lvs --segments` (one row per segment). */
export const segmentFields = ['lv_name', 'vg_name', 'lv_uuid', 'seg_pe_ranges', 'seg_size_pe'] as const;
const segmentRow = z.object({ lv_name: z.string(), vg_name: z.string(), lv_uuid: z.string(), seg_pe_ranges: z.string(), seg_size_pe: z.pipe(z.string().check(z.regex(/^\d+$/)), z.transform(Number)) });
export type SegmentRow = z.output<typeof segmentRow>;

const vgReport = report('vg', vgRow);
const lvReport = report('lv', lvRow);
const pvReport = report('pv', pvRow);
const segmentReport = report('seg', segmentRow);

/** Parses `vgs` JSON output. */
export function parseVgReport(json: string): VgRow[] {
  return parseReport(json, vgReport, 'vgs');
}

/** Parses `lvs` JSON output; an LV reported once per segment appears once. */
export function parseLvReport(json: string): LvRow[] {
  const rows = parseReport(json, lvReport, 'lvs');
  const seen = new Set<string>();
  return rows.filter((row) => {
    const key = `${row.vg_name}/${row.lv_name}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Parses `pvs` JSON output. */
export function parsePvReport(json: string): PvRow[] {
  return parseReport(json, pvReport, 'pvs');
}

/** Parses `lvs --segments` JSON output. */
export function parseSegmentReport(json: string): SegmentRow[] {
  return parseReport(json, segmentReport, 'lvs --segments');
}

function parseReport<T>(json: string, schema: z.ZodMiniType<T>, command: string): T {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch (cause) {
    throw new SharemountError('INTERNAL', `${command} printed a report that is not JSON`, { cause });
  }
  const result = schema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new SharemountError('INTERNAL', `${command} printed an unexpected report: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(), { cause: result.error });
  }
  return result.data;
}

/** lvm2's `lv_time` ("2026-12-06 17:50:42 +0000") in ms since the epoch; 0 when it does not parse. */
export function parseLvTime(text: string): number {
  const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) ([+-]\d{2})(\d{2})$/.exec(text.trim());
  const ms = match ? Date.parse(`${match[1]}T${match[2]}${match[3]}:${match[4]}`) : Number.NaN;
  return Number.isFinite(ms) ? ms : 0;
}
