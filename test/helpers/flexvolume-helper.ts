import { readdir, readFile, stat } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The resident helpers (src/flexvolume/helper-server.ts) that FlexVolume tests' calls start:
 * found by the helper directory in their environment, since each suite gives its calls its own.
 */
export async function helperPids(helperDir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const environ = await readFile(`/proc/${name}/environ`, 'utf8').catch(() => '');
    const vars = environ.split('\0');
    if (vars.includes('SHAREMOUNT_HELPER_SERVE=1') && vars.includes(`SHAREMOUNT_HELPER_DIR=${helperDir}`)) pids.push(Number(name));
  }
  return pids;
}

/** Waits until exactly `count` helpers of `helperDir` run; returns their pids. */
export async function waitForHelpers(helperDir: string, count: number, timeoutMs = 5_000): Promise<number[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const pids = await helperPids(helperDir);
    if (pids.length === count || Date.now() > until) return pids;
    await sleep(50);
  }
}

/** Kills every helper of `helperDir` and waits until they are gone (a suite's clean-up). */
export async function stopHelpers(helperDir: string): Promise<void> {
  for (const pid of await helperPids(helperDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await waitForHelpers(helperDir, 0);
}

/** Sends `text` as is on the helper's socket and collects the lines it answers until it closes. */
export function talkToHelper(socket: string, text: string | Buffer, timeoutMs = 5_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const connection = createConnection(socket);
    let received = '';
    const timer = setTimeout(() => {
      connection.destroy();
      reject(new Error(`the helper did not close the connection within ${timeoutMs} ms; got ${JSON.stringify(received)}`));
    }, timeoutMs);
    connection.setEncoding('utf8');
    connection.on('connect', () => connection.write(text));
    connection.on('data', (chunk: string) => (received += chunk));
    connection.on('error', () => {}); // the helper may drop a connection it refuses mid-write
    connection.on('close', () => {
      clearTimeout(timer);
      resolve(received.split('\n').filter((line) => line !== ''));
    });
  });
}

/** The pids that logged `msg` lines in a JSON-lines log, in order. */
export async function pidsThatLogged(logFile: string, msg: string): Promise<number[]> {
  const lines = (await readFile(logFile, 'utf8')).split('\n').filter((line) => line !== '');
  return lines.map((line) => JSON.parse(line) as { msg?: string; pid?: number }).filter((line) => line.msg === msg).map((line) => line.pid!);
}

/** Waits until a socket is at `path` (a helper listening there). */
export async function waitForSocket(path: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await stat(path).catch(() => undefined))?.isSocket()) return;
    await sleep(50);
  }
  throw new Error(`no socket at ${path}`);
}
