import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PrometheusMetrics } from './metrics.js';

/** Where the metrics endpoint listens. */
export interface MetricsEndpointOptions {
  /** TCP port; 0 picks a free one (see `CsiPlugin.metricsAddress`). */
  port: number;
  /** Address to bind. Default `127.0.0.1`: a scraper on another host needs `0.0.0.0` (or the node's address) said explicitly. */
  host?: string;
}

export interface MetricsEndpoint {
  readonly address: { host: string; port: number };
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (Prometheus' text format) over plain HTTP; anything else is 404, and a
 * method other than GET or HEAD 405. A failed collection answers 500 with no detail: the
 * plugin's log has it.
 */
export async function serveMetrics(metrics: PrometheusMetrics, options: MetricsEndpointOptions, onError: (error: unknown) => void): Promise<MetricsEndpoint> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/metrics') return void response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
    if (request.method !== 'GET' && request.method !== 'HEAD') return void response.writeHead(405, { allow: 'GET, HEAD' }).end();
    metrics.scrape().then(
      ({ contentType, body }) => void response.writeHead(200, { 'content-type': contentType }).end(request.method === 'HEAD' ? undefined : body),
      (error: unknown) => {
        onError(error);
        response.writeHead(500, { 'content-type': 'text/plain' }).end('collecting the metrics failed\n');
      },
    );
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: options.port, host }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    address: { host, port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
