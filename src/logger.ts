/**
 * The logging surface the library needs: pino's call shape (`logger.info(fields, message)`),
 * so a pino logger can be passed as is. The library never puts a secret into `fields`.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/**
 * Keys whose values a logger built by the shims never writes, wherever they appear in a line's
 * fields (pino redaction paths): the library puts no secret into a line, and this catches one a
 * driver author's hook might.
 */
export const redactedPaths = [
  'secrets', '*.secrets', 'secretBytes', '*.secretBytes', 'sensitiveOptions', '*.sensitiveOptions', 'password', '*.password', 'options.password',
];

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
