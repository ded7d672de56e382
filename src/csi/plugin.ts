import { rm } from 'node:fs/promises';
import { Server } from '@grpc/grpc-js';
import { pino } from 'pino';
import { redactedPaths, type Logger } from '../logger.js';
import { MountManager } from '../mount-manager.js';
import { listenOnSocket } from './endpoint.js';
import { toGrpcHandlers } from './grpc-handlers.js';
import { provisioningBackends } from './backend-abilities.js';
import { controllerService } from './controller-service.js';
import { identityService } from './identity-service.js';
import { nodeService } from './node-service.js';
import { checkPluginOptions, defaultRoot, socketPathOf, type CsiPluginOptions } from './plugin-options.js';
import { loadCsiServices } from './proto.js';
import type { ServiceContext } from './service-context.js';
import { createPrometheusMetrics, noMetrics, type PluginMetrics } from './metrics.js';
import { serveMetrics, type MetricsEndpoint } from './metrics-endpoint.js';
import { VolumeQueue } from './volume-queue.js';
import { PeriodicHeal } from './periodic-heal.js';

/** A CSI plugin process: `start` serves the CO on the endpoint, `stop` lets calls finish and closes. */
export interface CsiPlugin {
  /** The unix socket the plugin listens on. */
  readonly socketPath: string;
  readonly manager: MountManager;
  /** Reconciles every share under the root (a crash of the previous process), then listens. */
  start(): Promise<void>;
  /**
   * Stops taking calls, waits up to `graceMs` (default 10 s) for running ones, removes the
   * socket. During `start`, lets its reconcile finish and never serves. A second call returns
   * the first one's promise.
   */
  stop(graceMs?: number): Promise<void>;
  /** Records snapshot and clone copies (docs/metrics.md); does nothing when metrics are off or not started yet. */
  readonly metrics: PluginMetrics;
  /** Where the metrics endpoint listens once started; undefined when metrics are off. */
  metricsAddress(): { host: string; port: number } | undefined;
}

const defaultQueueLimit = 16;

/** Turns the core and a set of backends into a CSI plugin: Identity, Node, and Controller where a backend provisions (docs/csi.md). */
export function createCsiPlugin(input: CsiPluginOptions): CsiPlugin {
  const options = checkPluginOptions(input);
  const logger = options.logger ?? stderrLogger();
  const manager = new MountManager({ root: options.root ?? defaultRoot(options.name), backends: options.backends, logger, ...(options.timeouts ? { timeouts: options.timeouts } : {}) });
  const socketPath = socketPathOf(options.endpoint);
  const context: ServiceContext = { options, manager, logger, topology: topologyOf(options), queue: new VolumeQueue(options.maxQueuedPerVolume ?? defaultQueueLimit), metrics: noMetrics };
  const server = new Server();
  let metricsEndpoint: MetricsEndpoint | undefined;
  let starting: Promise<void> | undefined;
  let stopping = false;
  let stopped: Promise<void> | undefined;
  const periodicHeal = options.healIntervalMs === undefined ? undefined : new PeriodicHeal(manager, options.healIntervalMs, logger);

  return {
    socketPath,
    manager,
    get metrics() {
      return context.metrics;
    },
    metricsAddress: () => metricsEndpoint?.address,
    start() {
      starting ??= (async () => {
        const services = await loadCsiServices();
        if (options.metrics !== undefined) {
          const metrics = await createPrometheusMetrics(manager, options.backends.map((backend) => backend.name));
          context.metrics = metrics;
          metricsEndpoint = await serveMetrics(metrics, options.metrics, (error) => logger.error({ err: error }, 'collecting the metrics failed'));
          logger.info({ ...metricsEndpoint.address }, 'serving metrics');
        }
        server.addService(services.Identity.service, toGrpcHandlers(identityService(context), logger, context.metrics));
        server.addService(services.Controller.service, toGrpcHandlers(controllerService(context), logger, context.metrics));
        server.addService(services.Node.service, toGrpcHandlers(nodeService(context), logger, context.metrics));
        // No process ran while the last one was down: repair what its crash left before serving.
        const report = await manager.reconcile();
        logger.info({ ...report }, 'reconciled the state root');
        if (stopping) return; // stopped while reconciling: never start serving
        await listenOnSocket(server, socketPath);
        logger.info({ endpoint: socketPath, name: options.name, nodeId: options.nodeId }, 'serving CSI');
        periodicHeal?.start();
      })();
      return starting;
    },
    stop(graceMs = 10_000) {
      if (stopped !== undefined) {
        logger.info({}, 'asked to stop again; still letting the running calls finish');
        return stopped;
      }
      stopping = true;
      periodicHeal?.stop();
      logger.info({ graceMs }, 'stopping: no new calls; the running ones may finish');
      stopped = (async () => {
        // A start under way finishes its reconcile first (its commands hold the shares' locks).
        await starting?.catch(() => {});
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => server.forceShutdown(), graceMs);
          server.tryShutdown(() => {
            clearTimeout(timer);
            resolve();
          });
        });
        await rm(socketPath, { force: true });
        await metricsEndpoint?.close();
        metricsEndpoint = undefined;
        logger.info({}, 'stopped');
      })();
      return stopped;
    },
  };
}

/**
 * Starts the plugin (made from `options`, or made already) and stops it gracefully on SIGTERM
 * or SIGINT, also one that comes during start-up: the running calls finish (up to `stop`'s
 * grace), then the process exits 0. The one call a driver's entry file needs.
 *
 * The listeners are installed before anything starts and never removed (`on`, not `once`), and
 * a second signal is only logged. While a command runs, execa's signal-exit listens too, and
 * acts only when it is the last listener left: then it would kill the command and re-raise the
 * signal, and the plugin would die with its calls in flight.
 */
export async function runCsiPlugin(options: CsiPluginOptions | CsiPlugin): Promise<CsiPlugin> {
  const plugin = 'start' in options ? options : createCsiPlugin(options);
  // A second signal gets the same stop (logged), never a harder one: the orchestrator's SIGKILL
  // after the grace period is the hard stop.
  const stop = () =>
    void plugin.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await plugin.start();
  return plugin;
}

/**
 * The node's topology: the options', or, when a node-local backend provisions (host
 * directories, logical volumes), one segment naming this node, so that the CO schedules a pod
 * where its volume is: `<driver name>/node: <node id>`.
 */
function topologyOf(options: CsiPluginOptions): Readonly<Record<string, string>> | undefined {
  if (options.topology !== undefined) return options.topology;
  const nodeLocal = provisioningBackends(options.backends).some((backend) => backend.nodeLocal);
  return nodeLocal ? { [`${options.name.toLowerCase()}/node`]: options.nodeId } : undefined;
}

/** JSON lines on stderr (the container's log), with secrets redacted should a hook log one. */
function stderrLogger(): Logger {
  return pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime, redact: { paths: redactedPaths, censor: '[Redacted]' } }, pino.destination({ fd: 2, sync: true }));
}
