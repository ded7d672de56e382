import type { MountManager, ShareStatus } from '../mount-manager.js';

/*
 * The plugin's Prometheus metrics (docs/metrics.md). prom-client is an optional peer dependency:
 * it is loaded only when the plugin is started with `metrics`, so a plugin without them (and
 * every user of the core) never loads it. Each plugin has its own registry: two plugins in one
 * process (tests) never share series.
 */

/** What a copy for a snapshot or a clone was: the `kind` label of `sharemount_copied_bytes_total`. */
export type CopyKind = 'snapshot' | 'clone';

/**
 * What the services record. With metrics off it is `noMetrics`, whose calls do nothing, so code
 * that records (the snapshot and clone copies) never has to ask whether metrics are on.
 */
export interface PluginMetrics {
  /** One finished gRPC call: its method, its gRPC status name (`OK`, `NOT_FOUND`...) and how long it took. */
  observeCall(method: string, code: string, seconds: number): void;
  /** Bytes a snapshot or a clone copied (call it as the copy goes, or once when it ends). */
  recordCopiedBytes(kind: CopyKind, bytes: number, backend?: string): void;
}

export const noMetrics: PluginMetrics = {
  observeCall() {},
  recordCopiedBytes() {},
};

/** Where a backend call's tree copies are counted (copy-accounting.ts); none when metrics are off, so nothing is measured. */
export function copyListener(metrics: PluginMetrics, kind: CopyKind, backend: string): ((bytes: number) => void) | undefined {
  return metrics === noMetrics ? undefined : (bytes) => metrics.recordCopiedBytes(kind, bytes, backend);
}

/** Metrics backed by prom-client: the recorder, and the registry an endpoint serves. */
export interface PrometheusMetrics extends PluginMetrics {
  /** The exposition text of every series, gauges collected now. */
  scrape(): Promise<{ contentType: string; body: string }>;
}

/** Latency buckets (seconds): a bind is milliseconds, a first NFS mount or an mkfs can take seconds. */
const callBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

interface ShareCounts {
  mounted: Map<string, number>;
  publications: Map<string, number>;
  hung: Map<string, number>;
  broken: Map<string, number>;
}

/** Makes the plugin's metrics on a registry of their own (prom-client loaded here, on demand). */
export async function createPrometheusMetrics(manager: Pick<MountManager, 'list'>, backends: readonly string[]): Promise<PrometheusMetrics> {
  const prom = await import('prom-client');
  const registry = new prom.Registry();
  const registers = [registry];

  const calls = new prom.Counter({ name: 'sharemount_csi_calls_total', help: 'CSI calls answered, by method and gRPC status code.', labelNames: ['method', 'code'] as const, registers });
  const latency = new prom.Histogram({ name: 'sharemount_csi_call_duration_seconds', help: 'Time from a CSI call received to its answer, by method and gRPC status code.', labelNames: ['method', 'code'] as const, buckets: callBuckets, registers });
  const copied = new prom.Counter({ name: 'sharemount_copied_bytes_total', help: 'Bytes copied to make snapshots and clones, by kind (snapshot, clone) and backend.', labelNames: ['kind', 'backend'] as const, registers });

  // One list of the shares per scrape, shared by the gauges: prom-client collects them together.
  let collecting: Promise<ShareCounts> | undefined;
  const counts = () => (collecting ??= manager.list().then((shares) => countShares(shares, backends)).finally(() => (collecting = undefined)));
  const shareGauge = (name: string, help: string, pick: (c: ShareCounts) => Map<string, number>) =>
    new prom.Gauge({
      name,
      help,
      labelNames: ['backend'] as const,
      registers,
      async collect() {
        this.reset();
        for (const [backend, value] of pick(await counts())) this.set({ backend }, value);
      },
    });
  shareGauge('sharemount_shares_mounted', 'Shares (one mount of a source and option set) the kernel shows mounted under the state root, by backend.', (c) => c.mounted);
  shareGauge('sharemount_publications', "Publications (references) the state root records, by backend: a CSI plugin's staged volumes.", (c) => c.publications);
  shareGauge('sharemount_shares_hung', 'Shares a call timed out in and that have not answered a probe since, by backend.', (c) => c.hung);
  shareGauge('sharemount_shares_broken', 'Shares with publications that the kernel does not show mounted (reconcile remounts them), by backend.', (c) => c.broken);

  return {
    observeCall(method, code, seconds) {
      calls.inc({ method, code });
      latency.observe({ method, code }, seconds);
    },
    recordCopiedBytes(kind, bytes, backend = '') {
      if (Number.isFinite(bytes) && bytes > 0) copied.inc({ kind, backend }, bytes);
    },
    async scrape() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/** Per-backend counts; every backend the plugin serves has a series, 0 included. */
function countShares(shares: readonly ShareStatus[], backends: readonly string[]): ShareCounts {
  const zero = () => new Map(backends.map((name) => [name, 0]));
  const result: ShareCounts = { mounted: zero(), publications: zero(), hung: zero(), broken: zero() };
  const add = (map: Map<string, number>, backend: string, n: number) => map.set(backend, (map.get(backend) ?? 0) + n);
  for (const share of shares) {
    add(result.mounted, share.backend, share.mounted ? 1 : 0);
    add(result.publications, share.backend, share.publications.length);
    add(result.hung, share.backend, share.hung ? 1 : 0);
    add(result.broken, share.backend, !share.mounted && share.publications.length > 0 ? 1 : 0);
  }
  return result;
}
