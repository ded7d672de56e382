/**
 * sharemount/csi: a CSI plugin (Node, and Controller where a backend provisions) from the core
 * and a set of backends, served over gRPC on a unix socket. See docs/csi.md. gRPC
 * (@grpc/grpc-js, @grpc/proto-loader) is an optional peer dependency: only this entry point
 * loads it.
 */
export { createCsiPlugin, runCsiPlugin, type CsiPlugin } from './plugin.js';
export { defaultRoot, socketPathOf, type CsiPluginOptions, type StageInputs } from './plugin-options.js';
export { csiProtoPath, loadCsiServices, type CsiServices } from './proto.js';
export { noMetrics, type CopyKind, type PluginMetrics } from './metrics.js';
export type { MetricsEndpointOptions } from './metrics-endpoint.js';
