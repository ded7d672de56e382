import { describe, expect, it } from 'vitest';
import { parseLvReport, parsePvReport, parseSegmentReport, parseVgReport } from '../../src/backends/lvm/reports.js';

// Shapes as lvm2 2.03 prints them with --reportformat json --units b --nosuffix.
const vgs = `{
  "report": [ { "vg": [ {"vg_name":"vg0", "vg_size":"1069547520", "vg_free":"964689920", "vg_extent_size":"4194304"} ] } ]
}`;
const lvs = `{
  "report": [ { "lv": [
    {"lv_name":"pool", "vg_name":"vg0", "lv_size":"104857600", "lv_tags":"", "pool_lv":"", "segtype":"thin-pool", "data_percent":"12.50", "lv_kernel_major":"253", "lv_kernel_minor":"2"},
    {"lv_name":"t1", "vg_name":"vg0", "lv_size":"1073741824", "lv_tags":"sharemount,team=a", "pool_lv":"pool", "segtype":"thin", "data_percent":"0.00", "lv_kernel_major":"-1", "lv_kernel_minor":"-1"},
    {"lv_name":"t1", "vg_name":"vg0", "lv_size":"1073741824", "lv_tags":"sharemount,team=a", "pool_lv":"pool", "segtype":"thin", "data_percent":"0.00", "lv_kernel_major":"-1", "lv_kernel_minor":"-1"},
    {"lv_name":"lin", "vg_name":"vg0", "lv_size":"12582912", "lv_tags":"", "pool_lv":"", "segtype":"linear", "data_percent":"", "lv_kernel_major":"-1", "lv_kernel_minor":"-1"}
  ] } ]
}`;

describe('lvm2 JSON reports', () => {
  it('parses vgs with byte counts as numbers', () => {
    expect(parseVgReport(vgs)).toEqual([{ vg_name: 'vg0', vg_size: 1069547520, vg_free: 964689920, vg_extent_size: 4194304 }]);
  });

  it('parses lvs: tags as a list, percentages, kernel numbers, one row per LV', () => {
    const rows = parseLvReport(lvs);
    expect(rows.map((r) => r.lv_name)).toEqual(['pool', 't1', 'lin']);
    expect(rows[0]).toMatchObject({ segtype: 'thin-pool', data_percent: 12.5, lv_kernel_major: 253, lv_tags: [] });
    expect(rows[1]).toMatchObject({ pool_lv: 'pool', lv_tags: ['sharemount', 'team=a'], lv_kernel_major: -1 });
    expect(rows[2]).toMatchObject({ data_percent: undefined, lv_size: 12582912 });
  });

  it('parses an empty report (a VG without LVs)', () => {
    expect(parseLvReport('{"report":[{"lv":[]}]}')).toEqual([]);
  });

  it('parses pvs and segment reports', () => {
    expect(parsePvReport('{"report":[{"pv":[{"pv_name":"/dev/loop3","vg_name":"vg0","pe_start":"1048576","vg_extent_size":"4194304"}]}]}')).toEqual([
      { pv_name: '/dev/loop3', vg_name: 'vg0', pe_start: 1048576, vg_extent_size: 4194304 },
    ]);
    expect(parseSegmentReport('{"report":[{"seg":[{"lv_name":"a","vg_name":"vg0","lv_uuid":"u-1","seg_pe_ranges":"/dev/loop3:0-24","seg_size_pe":"25"}]}]}')).toEqual([
      { lv_name: 'a', vg_name: 'vg0', lv_uuid: 'u-1', seg_pe_ranges: '/dev/loop3:0-24', seg_size_pe: 25 },
    ]);
  });

  it.each([
    ['not JSON', 'WARNING: something', 'not JSON'],
    ['no report', '{}', 'unexpected report'],
    ['a size with a suffix', vgs.replace('"1069547520"', '"1.00g"'), 'vg_size'],
    ['a negative size', vgs.replace('"964689920"', '"-1"'), 'vg_free'],
    ['a size beyond 2^53', vgs.replace('"964689920"', '"99999999999999999999"'), 'too large'],
    ['a missing field', vgs.replace('"vg_extent_size":"4194304"', '"other":"1"'), 'vg_extent_size'],
    ['a number instead of a string', vgs.replace('"1069547520"', '1069547520'), 'vg_size'],
    ['an odd percentage', lvs.replace('"12.50"', '"12,5"'), 'data_percent'],
  ])('refuses %s as INTERNAL naming the report', (_, json, problem) => {
    const parse = json.includes('"lv"') ? parseLvReport : parseVgReport;
    expect(() => parse(json)).toThrow(expect.objectContaining({ code: 'INTERNAL', message: expect.stringContaining(problem) }));
  });
});
