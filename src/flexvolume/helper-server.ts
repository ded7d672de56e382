import { chmodSync, lstatSync, mkdirSync, readlinkSync, statSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import * as z from '../zod.js';
import { fromZodError } from '../errors.js';
import { tryBind } from '../lock.js';
import { loadConfig, defaultTimeoutMs } from './config.js';
import { answerCall, executableOf } from './driver.js';
import type { FlexVolumeDriverOptions } from './driver-options.js';
import { maxRequestBytes, type DeclineReason, type HelperLine, type Launch } from './helper-protocol.js';
import { createFileLogger, type FileLogger } from './log-file.js';
import { startLockName } from './helper-start.js';
import { quietProcess } from './quiet-process.js';
import { wellFormed, type Reply } from './reply.js';
import { defaultPath } from './run-call.js';

/**
 * The resident helper: this driver's executable, started by a call that found none (helper-start.ts),
 * serving its later calls over a unix socket so that they need not evaluate the driver again.
 * Each call is answered exactly as the executable would answer it (answerCall, with the caller's
 * argv and environment): its own configuration, log, deadline and MountManager. The helper
 * keeps no state of its own between calls; everything that counts is on disk, so a helper that
 * dies loses nothing and its callers answer their calls themselves.
 *
 * Only root may reach the socket: it is created 0600 in a directory that must be root's own and
 * closed to others (0700), since whoever can send a call can mount. One helper per socket: the
 * one that holds the start lock (an abstract unix name; a second one started at the same time
 * exits). It retires, finishing the calls in flight, when it has been idle for
 * SHAREMOUNT_HELPER_IDLE_MS, when a caller of another build (an upgraded driver), with another
 * environment (a restarted kubelet) or in another mount namespace asks, and when its socket is
 * removed or replaced.
 * The environment matters because the commands a call runs (mount, lvm...) inherit the helper's
 * own; the SHAREMOUNT_* settings are read from each caller's, so they may differ per call.
 */

// A connection that sends no complete request in this long is dropped.
const requestWaitMs = 5_000;
// How often the helper checks that its socket is still the one at its path.
const socketCheckMs = 1_000;
// What stray stdout/stderr output is kept in the log, at most (as driver.ts keeps it).
const strayTextChars = 2_000;
// A line a caller cannot have sent (garbage on the socket) is logged this long at most.
const shownRequestChars = 200;

const requestSchema = z.strictObject({
  build: z.string().check(z.maxLength(200)),
  mountNamespace: z.string().check(z.maxLength(200)),
  argv: z.array(z.string()).check(z.maxLength(16)),
  env: z.record(z.string(), z.string()),
});

export async function serveHelper(driver: FlexVolumeDriverOptions, launch: Launch): Promise<never> {
  const socketPath = launch.socket;
  process.umask(0o077); // the socket is created 0600, with no moment open to others
  const executable = executableOf(driver);
  let logger: FileLogger | undefined;
  try {
    const config = loadConfig(process.env, driver, executable, driver.name);
    logger = createFileLogger({ file: config.logFile, level: config.logLevel, base: { driver: driver.name, helper: true, pid: process.pid } });
    const exit = exitWith(logger);
    const log = logger;
    // What a driver's code prints goes to the helper's log, as it would go to a call's; an
    // uncaught error ends the helper (its callers answer their calls themselves).
    quietProcess({
      onStray: (stream, text) => log.warn({ stream, text: text.slice(0, strayTextChars) }, 'stray output kept off stdout/stderr'),
      onFatal: (error) => exit(1, 'uncaught error', error),
    });
    if (socketPath === undefined) return exit(1, 'no socket to serve (SHAREMOUNT_HELPER is off)');
    const idleMs = config.helper.idleMs; // loadConfig also refused a helper directory inside the plugin directory
    ensurePrivateDirectory(dirname(socketPath));
    const startLock = await tryBind(startLockName(socketPath));
    if (startLock === undefined) return exit(0, 'another helper is starting or serving this socket');
    const server = await listenPrivately(socketPath);
    const helper = new Helper(driver, executable, launch.build, socketPath, server, startLock, logger, idleMs, exit);
    logger.info({ socket: socketPath, idleMs, build: launch.build }, 'resident helper serving');
    helper.start();
  } catch (error) {
    exitWith(logger)(1, 'the resident helper could not start', error);
  }
  return new Promise<never>(() => {});
}

type Exit = (code: 0 | 1, message: string, error?: unknown) => never;

function exitWith(logger: FileLogger | undefined): Exit {
  return (code, message, error) => {
    const fields = error === undefined ? {} : { error: error instanceof Error ? { message: error.message, code: (error as NodeJS.ErrnoException).code } : String(error) };
    if (code === 0) logger?.info(fields, message);
    else logger?.error(fields, message);
    void Promise.race([logger?.flush(), new Promise((done) => setTimeout(done, 1_000))]).finally(() => process.exit(code));
    return undefined as never;
  };
}

class Helper {
  private inFlight = 0;
  private retiring = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly ownNamespace = readlinkSync('/proc/self/ns/mnt');
  private readonly environment = environmentKey(process.env);
  private readonly socketInode: number;

  constructor(
    private readonly driver: FlexVolumeDriverOptions,
    private readonly executable: string | undefined,
    private readonly build: string,
    private readonly socketPath: string,
    private readonly server: Server,
    private readonly startLock: Server,
    private readonly logger: FileLogger,
    private readonly idleMs: number,
    private readonly exit: Exit,
  ) {
    this.socketInode = statSync(socketPath).ino;
  }

  start(): void {
    this.server.on('connection', (connection) => this.accept(connection));
    setInterval(() => this.checkSocket(), socketCheckMs).unref();
    this.armIdle();
  }

  private accept(connection: Socket): void {
    let buffered = '';
    connection.setEncoding('utf8');
    connection.setTimeout(requestWaitMs, () => connection.destroy());
    connection.on('error', () => {}); // a caller that went away; its call is its own business
    const onData = (chunk: string) => {
      buffered += chunk;
      const end = buffered.indexOf('\n');
      if (end === -1 && buffered.length <= maxRequestBytes) return;
      connection.off('data', onData);
      connection.setTimeout(0);
      if (end === -1) return this.decline(connection, 'malformed', 'request longer than the limit');
      void this.answer(connection, buffered.slice(0, end));
    };
    connection.on('data', onData);
  }

  private async answer(connection: Socket, line: string): Promise<void> {
    const request = parseRequest(line);
    if (!request.ok) return this.decline(connection, 'malformed', request.message);
    if (request.value.build !== this.build) {
      this.decline(connection, 'stale', `a caller of build ${request.value.build}`);
      return this.retire('a caller of another build (the driver was upgraded)');
    }
    if (environmentKey(request.value.env) !== this.environment) {
      this.decline(connection, 'environment', 'a caller with another environment');
      return this.retire('a caller with another environment (kubelet restarted with new settings)');
    }
    if (request.value.mountNamespace !== this.ownNamespace) {
      // Its mounts would not be the caller's. The namespace the callers live in now wins: a
      // helper left in another one (a test's, a restarted kubelet's container) serves nobody.
      this.decline(connection, 'namespace', `a caller in mount namespace ${request.value.mountNamespace}`);
      return this.retire('a caller in another mount namespace');
    }
    if (this.retiring) return this.decline(connection, 'retiring', 'retiring');

    this.inFlight++;
    clearTimeout(this.idleTimer);
    const driver: FlexVolumeDriverOptions = { ...this.driver, env: request.value.env, argv: request.value.argv, executable: this.executable };
    send(connection, { accepted: { timeoutMs: timeoutOf(driver, this.executable) } });
    let callLogger: FileLogger | undefined;
    let replied = false;
    const reply = (answer: Reply) => {
      if (replied) return;
      replied = true;
      send(connection, { reply: wellFormed(answer)[1] });
      connection.end();
    };
    try {
      reply(await answerCall(driver, request.value.argv, { executable: this.executable, onLogger: (l) => (callLogger = l), onDeadline: reply }));
    } finally {
      // Lines logged after a deadline reply (the work goes on until its own bounds stop it) are kept.
      await callLogger?.close();
      this.inFlight--;
      if (this.retiring && this.inFlight === 0) this.exit(0, 'resident helper retired');
      else if (this.inFlight === 0) this.armIdle(); // idle means no call at all, not a call that takes long
    }
  }

  private decline(connection: Socket, reason: DeclineReason, detail: string): void {
    this.logger.warn({ reason, detail: detail.slice(0, shownRequestChars) }, 'declined a call');
    send(connection, { declined: reason });
    connection.end();
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.retire(`idle for ${this.idleMs} ms`), this.idleMs);
  }

  /** Stops taking calls at once (the socket goes, so callers start afresh), exits when none is in flight. */
  private retire(why: string): void {
    if (this.retiring) return;
    this.retiring = true;
    this.logger.info({ why }, 'resident helper retiring');
    if (this.socketIsOurs()) {
      try {
        unlinkSync(this.socketPath);
      } catch {
        // already gone
      }
    }
    this.server.close();
    this.startLock.close(); // a new helper may start now
    if (this.inFlight === 0) this.exit(0, 'resident helper retired');
  }

  private checkSocket(): void {
    if (!this.retiring && !this.socketIsOurs()) this.retire('its socket was removed or replaced');
  }

  private socketIsOurs(): boolean {
    try {
      const stat = lstatSync(this.socketPath);
      return stat.isSocket() && stat.ino === this.socketInode;
    } catch {
      return false;
    }
  }
}

/**
 * What a shell sets afresh for every command it runs (`_` is the command's own path), so that a
 * driver called from a script would otherwise never match its helper. kubelet, a Go program,
 * passes its own environment unchanged to every call.
 */
const shellBookkeeping = new Set(['_', 'SHLVL', 'PWD', 'OLDPWD']);

/**
 * An environment as the commands of a call would see it: without the SHAREMOUNT_* settings
 * (read per call) and a shell's bookkeeping, with PATH as run-call.ts defaults it, in a stable order.
 */
export function environmentKey(env: Readonly<Record<string, string | undefined>>): string {
  const entries = Object.entries({ ...env, PATH: env.PATH ?? defaultPath }).filter(([key, value]) => value !== undefined && !key.startsWith('SHAREMOUNT_') && !shellBookkeeping.has(key));
  return JSON.stringify(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function send(connection: Socket, line: HelperLine): void {
  if (!connection.destroyed) connection.write(`${JSON.stringify(line)}\n`);
}

function parseRequest(line: string): { ok: true; value: z.infer<typeof requestSchema> } | { ok: false; message: string } {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return { ok: false, message: 'request is not JSON' };
  }
  const parsed = requestSchema.safeParse(json);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, message: fromZodError(parsed.error, 'request').message };
}

/** The call's deadline, for the caller's own bound; a configuration that does not load fails the call inside anyway. */
function timeoutOf(driver: FlexVolumeDriverOptions, executable: string | undefined): number {
  try {
    return loadConfig(driver.env ?? {}, driver, executable, driver.name).timeoutMs;
  } catch {
    return defaultTimeoutMs;
  }
}

/**
 * Makes the socket's directory, or checks the one there: a real directory (not a symlink), owned
 * by this user, with no access for group or others. Anything else could let another user reach
 * the socket, or swap it for their own.
 */
function ensurePrivateDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  const uid = process.getuid?.() ?? 0;
  if (!stat.isDirectory()) throw new Error(`${dir} is not a directory`);
  if (stat.uid !== uid) throw new Error(`${dir} is owned by uid ${stat.uid}, not ${uid}`);
  if ((stat.mode & 0o077) !== 0) throw new Error(`${dir} is open to group or others (mode ${(stat.mode & 0o777).toString(8)}); it must be 0700`);
}

/** Replaces a socket left by a helper that died (the start lock says none is serving it) and listens. */
function listenPrivately(socketPath: string): Promise<Server> {
  try {
    if (lstatSync(socketPath).isSocket()) unlinkSync(socketPath);
  } catch {
    // nothing there
  }
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ path: socketPath, exclusive: true }, () => {
      chmodSync(socketPath, 0o600);
      resolve(server);
    });
  });
}
