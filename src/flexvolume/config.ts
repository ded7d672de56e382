import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import * as z from '../zod.js';
import { fromZodError, invalidArgument } from '../errors.js';
import { forbiddenDirs, isInside, resolvedPath } from './plugin-dir.js';
import { isInside as isInsideByIdentity, placeIfPresent, placeOfExisting } from '../identity.js';

/** Where the shim keeps state and logs, and how long one call may take. */
export interface FlexVolumeConfig {
  /** The MountManager's state root. */
  root: string;
  /** The log file; undefined: no log. */
  logFile: string | undefined;
  logLevel: LogLevel;
  /** The bound on one whole call, in milliseconds. */
  timeoutMs: number;
  /** kubelet's fsGroupChangePolicy, which it never passes to a driver: the node's choice. */
  fsGroupChangePolicy: FsGroupChangePolicy;
}

export const logLevels = ['debug', 'info', 'warn', 'error'] as const;
export const fsGroupChangePolicies = ['Always', 'OnRootMismatch'] as const;
export type FsGroupChangePolicy = (typeof fsGroupChangePolicies)[number];
export type LogLevel = (typeof logLevels)[number];

/**
 * `/var/lib/sharemount/flexvolume/<vendor~driver>`: a root of each driver's own, never shared
 * by accident with another driver or with a CSI plugin (whose default is under `csi/`).
 */
export function defaultRoot(driverName: string): string {
  return `/var/lib/sharemount/flexvolume/${driverName.replace('/', '~')}`;
}
export const defaultConfigFile = '/etc/sharemount/flexvolume.json';
export const defaultTimeoutMs = 60_000;

/** The driver author's defaults; the config file and the environment override them. */
export interface ConfigDefaults {
  /** Where to look for the config file when SHAREMOUNT_CONFIG is unset (read only if it exists). */
  configFile?: string;
  root?: string;
  logFile?: string;
  logLevel?: LogLevel;
  timeoutMs?: number;
  fsGroupChangePolicy?: FsGroupChangePolicy;
}

const absolutePath = z.string().check(z.minLength(1), z.refine(isAbsolute, 'must be an absolute path'), z.refine((p) => !p.includes('\0'), 'must not contain a NUL byte'));
const timeout = z.pipe(z.coerce.number(), z.int().check(z.minimum(1_000), z.maximum(3_600_000)));

const fileSchema = z.strictObject({
  root: z.optional(absolutePath),
  log: z.optional(z.union([absolutePath, z.literal('off')])),
  logLevel: z.optional(z.enum(logLevels)),
  timeoutMs: z.optional(timeout),
  fsGroupChangePolicy: z.optional(z.enum(fsGroupChangePolicies)),
});

/**
 * Resolves the configuration. Precedence, highest first: the environment (`SHAREMOUNT_ROOT`,
 * `SHAREMOUNT_LOG` (`off` disables the log), `SHAREMOUNT_LOG_LEVEL`, `SHAREMOUNT_TIMEOUT_MS`,
 * `SHAREMOUNT_FSGROUP_CHANGE_POLICY`), the JSON config file (`SHAREMOUNT_CONFIG`, else the driver's `configFile`, else
 * /etc/sharemount/flexvolume.json; only a file named by SHAREMOUNT_CONFIG must exist), the
 * driver's defaults, then the built-in ones. The root, the log and the
 * config file must all lie outside the plugin directory: a file written there makes kubelet
 * re-run `init` and forget what it learnt.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, defaults: ConfigDefaults, executable: string | undefined, driverName: string): FlexVolumeConfig {
  const forbidden = forbiddenDirs(executable);
  const configPath = env.SHAREMOUNT_CONFIG || defaults.configFile || defaultConfigFile;
  checkOutside('SHAREMOUNT_CONFIG', configPath, forbidden);
  const file = readConfigFile(configPath, env.SHAREMOUNT_CONFIG !== undefined && env.SHAREMOUNT_CONFIG !== '');

  const root = pick('SHAREMOUNT_ROOT', env.SHAREMOUNT_ROOT, absolutePath) ?? file.root ?? defaults.root ?? defaultRoot(driverName);
  const logSetting = pick('SHAREMOUNT_LOG', env.SHAREMOUNT_LOG, z.union([absolutePath, z.literal('off')])) ?? file.log ?? defaults.logFile ?? defaultLogFile(driverName);
  const logLevel = pick('SHAREMOUNT_LOG_LEVEL', env.SHAREMOUNT_LOG_LEVEL, z.enum(logLevels)) ?? file.logLevel ?? defaults.logLevel ?? 'info';
  const timeoutMs = pick('SHAREMOUNT_TIMEOUT_MS', env.SHAREMOUNT_TIMEOUT_MS, timeout) ?? file.timeoutMs ?? defaults.timeoutMs ?? defaultTimeoutMs;
  const fsGroupChangePolicy =
    pick('SHAREMOUNT_FSGROUP_CHANGE_POLICY', env.SHAREMOUNT_FSGROUP_CHANGE_POLICY, z.enum(fsGroupChangePolicies)) ?? file.fsGroupChangePolicy ?? defaults.fsGroupChangePolicy ?? 'Always';

  checkOutside('root', root, forbidden);
  const logFile = logSetting === 'off' ? undefined : logSetting;
  if (logFile !== undefined) checkOutside('log', logFile, forbidden);
  return { root, logFile, logLevel, timeoutMs, fsGroupChangePolicy };
}

/** `/var/log/sharemount/<vendor~driver>.log`. */
export function defaultLogFile(driverName: string): string {
  return `/var/log/sharemount/${driverName.replace('/', '~')}.log`;
}

function pick<T>(name: string, value: string | undefined, schema: z.ZodMiniType<T>): T | undefined {
  if (value === undefined || value === '') return undefined;
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw fromZodError(parsed.error, name);
  return parsed.data;
}

function readConfigFile(path: string, required: boolean): z.infer<typeof fileSchema> {
  let text: string;
  try {
    // O_NONBLOCK and a regular file only: a FIFO or a device there would block the call before
    // its deadline exists (the deadline is read from this file).
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      if (!fstatSync(fd).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'not a regular file' });
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw invalidArgument('SHAREMOUNT_CONFIG', `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalidArgument('SHAREMOUNT_CONFIG', `${path} is not valid JSON`);
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) throw fromZodError(parsed.error, path);
  return parsed.data;
}

/**
 * Refuses a path inside one of `forbidden` (the plugin directories): as written, through a
 * symlink, or through another path to the same directory (a bind mount), judged by identity.
 */
export function checkOutside(field: string, path: string, forbidden: readonly string[]): void {
  const real = resolvedPath(path); // a symlink on the way must not lead into it either
  const place = placeOfExisting(path);
  for (const dir of forbidden) {
    const dirPlace = place === undefined ? undefined : placeIfPresent(dir);
    if (isInside(path, dir) || isInside(real, dir) || (place !== undefined && dirPlace !== undefined && isInsideByIdentity(place, dirPlace))) {
      throw invalidArgument(field, `${path} is inside the plugin directory ${dir}: kubelet re-runs init for every file written there; choose a path outside it`);
    }
  }
}
