import { chmod, lstat, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { ServerCredentials, type Server } from '@grpc/grpc-js';
import { invalidArgument, SharemountError } from '../errors.js';

/** How long a socket left at the endpoint gets to answer before it counts as stale. */
const probeMs = 1_000;

/**
 * Listens on the unix socket at `path`, readable and writable by its owner only (the CO's
 * sidecars run as root). A socket left by an earlier process is removed; one that still
 * answers belongs to a running plugin and is left alone: two plugins on one socket would
 * split the CO's calls between them.
 */
export async function listenOnSocket(server: Server, path: string): Promise<void> {
  await removeStaleSocket(path);
  // The socket is made with the process's umask: no moment when another user could connect.
  const umask = process.umask(0o177);
  try {
    await new Promise<number>((resolve, reject) => server.bindAsync(`unix:${path}`, ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))));
  } finally {
    process.umask(umask);
  }
  await chmod(path, 0o600);
}

async function removeStaleSocket(path: string): Promise<void> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!stats.isSocket()) throw invalidArgument('endpoint', `${path} exists and is not a socket; refusing to replace it`);
  if (await answers(path)) throw new SharemountError('ALREADY_EXISTS', `endpoint: another process is listening on ${path}`, { field: 'endpoint' });
  await unlink(path);
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const done = (answered: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answered);
    };
    const timer = setTimeout(() => done(false), probeMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
