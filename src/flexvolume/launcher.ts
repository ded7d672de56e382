import { readlinkSync, unlinkSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import { failure, serialize, writeFully } from './reply.js';
import {
  acceptWaitMs,
  helperDirFrom,
  helperSocket,
  launchGlobal,
  maxRequestBytes,
  replyGraceMs,
  serveVariable,
  type HelperLine,
  type HelperOutcome,
  type HelperRequest,
  type Launch,
} from './helper-protocol.js';

/**
 * The single executable's entry point (scripts/build-flexvolume.sh). Starting Node and this file
 * costs about what `node -e 0` does; evaluating the driver (zod, execa, pino, the core) costs as
 * much again. So a call first asks the driver's resident helper, a process of the same
 * executable that has all of it loaded, and only when there is none, or it cannot take the call,
 * evaluates the driver bundle (an asset of the executable) and answers the call itself.
 * Loads node:fs, node:net and node:path only, and writes nothing but the reply.
 */

declare const SHAREMOUNT_BUILD: string; // the bundle's hash, set by the build
declare const SHAREMOUNT_DRIVER_DIR: string; // vendor~driver

const bundleAsset = 'driver.cjs';
const codeCacheAsset = 'driver.cache';

async function launch(): Promise<void> {
  const env = process.env;
  const dir = env.SHAREMOUNT_HELPER === 'off' ? undefined : helperDirFrom(env.SHAREMOUNT_HELPER_DIR);
  const socket = dir === undefined ? undefined : helperSocket(dir, SHAREMOUNT_DRIVER_DIR);
  if (env[serveVariable] === '1') return evaluateDriver({ mode: 'serve', build: SHAREMOUNT_BUILD, socket });
  if (socket === undefined) return evaluateDriver({ mode: 'call', build: SHAREMOUNT_BUILD, socket, outcome: 'off' });

  const request: HelperRequest = { build: SHAREMOUNT_BUILD, mountNamespace: ownMountNamespace(), argv: process.argv.slice(2), env: definedOnly(env) };
  const result = await askHelper(socket, request);
  // A helper that does not even accept a call is stuck (an event loop blocked on hung storage,
  // a stopped process): its socket goes, so that the calls after this one do not wait for it
  // too; the helper retires when it sees that, should it ever run again.
  if ('outcome' in result && result.outcome === 'unresponsive') removeSocket(socket);
  if ('reply' in result) {
    writeReply(result.reply);
    process.exit(exitCodeOf(result.reply));
  }
  evaluateDriver({ mode: 'call', build: SHAREMOUNT_BUILD, socket, outcome: result.outcome });
}

/** Sends the request and waits for the reply, or for a reason to answer the call here. */
function askHelper(socket: string, request: HelperRequest): Promise<{ reply: string } | { outcome: HelperOutcome }> {
  return new Promise((resolve) => {
    const connection = createConnection(socket);
    let buffered = '';
    let accepted = false;
    let settled = false;
    let timer = setTimeout(() => finish({ outcome: 'unresponsive' }), acceptWaitMs);
    const finish = (result: { reply: string } | { outcome: HelperOutcome }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      connection.destroy();
      resolve(result);
    };
    const onLine = (line: HelperLine) => {
      if ('accepted' in line) {
        accepted = true;
        clearTimeout(timer);
        // The helper keeps the call's deadline itself; this only covers a helper that stopped.
        const waitMs = line.accepted.timeoutMs + replyGraceMs;
        timer = setTimeout(() => finish({ reply: failureLine(`the call did not finish within ${waitMs} ms in the driver's resident helper, which did not answer; see the driver's log`) }), waitMs);
      } else if ('reply' in line) finish({ reply: line.reply });
      else finish({ outcome: `declined:${line.declined}` });
    };
    connection.setEncoding('utf8');
    connection.on('connect', () => connection.write(`${JSON.stringify(request)}\n`));
    connection.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > maxRequestBytes) return finish({ outcome: 'lost' });
      for (let end = buffered.indexOf('\n'); end !== -1 && !settled; end = buffered.indexOf('\n')) {
        const text = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        const line = parseLine(text);
        if (line === undefined) return finish({ outcome: 'lost' });
        onLine(line);
      }
    });
    connection.on('error', (error: NodeJS.ErrnoException) => {
      const absent = !accepted && (error.code === 'ENOENT' || error.code === 'ECONNREFUSED');
      finish({ outcome: absent ? 'absent' : 'lost' });
    });
    connection.on('close', () => finish({ outcome: 'lost' }));
  });
}

function parseLine(text: string): HelperLine | undefined {
  try {
    const line = JSON.parse(text) as Record<string, unknown> | null;
    if (line === null || typeof line !== 'object') return undefined;
    if (typeof line.reply === 'string') return { reply: line.reply };
    const accepted = line.accepted as { timeoutMs?: unknown } | undefined;
    if (typeof accepted?.timeoutMs === 'number' && Number.isFinite(accepted.timeoutMs)) return { accepted: { timeoutMs: accepted.timeoutMs } };
    if (typeof line.declined === 'string') return { declined: line.declined as never };
  } catch {
    // not JSON: treated as a lost helper
  }
  return undefined;
}

/**
 * Evaluates the driver bundle, with the launch in a global for runFlexVolumeDriver. The bundle
 * is CommonJS that requires built-in modules only, and its code cache was made by the build
 * with this same Node (a mismatch is harmless: V8 rejects the cache and compiles).
 */
function evaluateDriver(launch: Launch): void {
  (globalThis as Record<string, unknown>)[launchGlobal] = launch;
  const { getAsset } = require('node:sea') as typeof import('node:sea');
  const { Script } = require('node:vm') as typeof import('node:vm');
  const source = `(function (exports, require, module, __filename, __dirname) {${getAsset(bundleAsset, 'utf8')}\n})`;
  const cachedData = Buffer.from(getAsset(codeCacheAsset));
  const wrapper = new Script(source, { filename: bundleAsset, cachedData }).runInThisContext() as (...args: unknown[]) => void;
  const module = { exports: {} };
  wrapper(module.exports, require, module, process.execPath, dirname(process.execPath));
}

function removeSocket(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already, or not ours to remove (a caller that is not root)
  }
}

function ownMountNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/mnt');
  } catch {
    return 'unknown';
  }
}

function definedOnly(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value;
  return out;
}

function failureLine(message: string): string {
  return serialize(failure(message));
}

function exitCodeOf(reply: string): 0 | 1 {
  try {
    return (JSON.parse(reply) as { status?: unknown }).status === 'Failure' ? 1 : 0;
  } catch {
    return 1;
  }
}

function writeReply(text: string): void {
  writeFully(1, Buffer.from(text, 'utf8'));
}

// A failure in the launcher itself (an asset missing, a bug) must still answer with one reply.
launch().catch((error: unknown) => {
  writeReply(failureLine(`internal error in the driver's launcher: ${error instanceof Error ? error.message : String(error)}`));
  process.exit(1);
});
