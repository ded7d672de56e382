/**
 * The share gauges as a scrape computes them from `MountManager.list()`: per backend, every
 * served backend with a series (0 included), hung shares from the manager's mark, broken ones
 * (publications, but not mounted). The live endpoint is tested in
 * test/integration/csi-metrics.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { copyListener, createPrometheusMetrics, noMetrics } from '../../src/csi/metrics.js';
import { accountCopies, copyAccount } from '../../src/copy-accounting.js';
import type { ShareStatus } from '../../src/mount-manager.js';

const share = (backend: string, mounted: boolean, hung: boolean, publications: number): ShareStatus => ({
  key: `${backend}/x${Math.random()}`,
  backend,
  source: undefined,
  options: [],
  hasSensitiveOptions: false,
  mountPoint: '/nowhere',
  mounted,
  hung,
  publications: Array.from({ length: publications }, () => ({}) as ShareStatus['publications'][number]),
});

describe('the share gauges', () => {
  it('count mounted, hung and broken shares and publications per backend, with a 0 series for every backend', async () => {
    const shares = [share('nfs', true, false, 3), share('nfs', true, true, 1), share('nfs', false, false, 2), share('bind', true, false, 1)];
    let lists = 0;
    const metrics = await createPrometheusMetrics({ list: async () => (lists++, shares) }, ['nfs', 'bind', 'lvm']);
    const { body } = await metrics.scrape();
    const value = (series: string) => Number(body.split('\n').find((l) => l.startsWith(`${series} `))?.split(' ')[1]);
    expect(value('sharemount_shares_mounted{backend="nfs"}')).toBe(2);
    expect(value('sharemount_shares_hung{backend="nfs"}')).toBe(1);
    expect(value('sharemount_shares_broken{backend="nfs"}')).toBe(1);
    expect(value('sharemount_publications{backend="nfs"}')).toBe(6);
    expect(value('sharemount_shares_mounted{backend="bind"}')).toBe(1);
    expect(value('sharemount_shares_mounted{backend="lvm"}')).toBe(0);
    expect(value('sharemount_shares_broken{backend="lvm"}')).toBe(0);
    expect(lists).toBe(1); // one list of the shares per scrape, whatever the number of gauges
  });

  it('ignore copies of no bytes, and count the others by kind and backend', async () => {
    const metrics = await createPrometheusMetrics({ list: async () => [] }, ['bind']);
    metrics.recordCopiedBytes('clone', 0, 'bind');
    metrics.recordCopiedBytes('clone', Number.NaN, 'bind');
    metrics.recordCopiedBytes('clone', 10, 'bind');
    const { body } = await metrics.scrape();
    expect(body).toContain('sharemount_copied_bytes_total{kind="clone",backend="bind"} 10');
  });
});

describe('copy accounting', () => {
  it('hands a copy made inside accountCopies to its listener, and measures nothing with metrics off', async () => {
    expect(copyAccount()).toBeUndefined();
    expect(copyListener(noMetrics, 'snapshot', 'bind')).toBeUndefined();
    expect(await accountCopies(undefined, async () => copyAccount())).toBeUndefined();
    const metrics = await createPrometheusMetrics({ list: async () => [] }, ['bind']);
    const listener = copyListener(metrics, 'snapshot', 'bind');
    await accountCopies(listener, async () => {
      await new Promise((resolve) => setTimeout(resolve, 1)); // still its listener after an await
      copyAccount()!(123);
    });
    expect(copyAccount()).toBeUndefined();
    expect((await metrics.scrape()).body).toContain('sharemount_copied_bytes_total{kind="snapshot",backend="bind"} 123');
  });
});
