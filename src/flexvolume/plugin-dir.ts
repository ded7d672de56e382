import { realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';

/** kubelet's default `--volume-plugin-dir`. */
export const defaultPluginDir = '/usr/libexec/kubernetes/kubelet-plugins/volume/exec';

/**
 * The plugin directory this executable was installed into: the parent of its `vendor~driver`
 * directory. kubelet watches that tree and re-runs `init` for any file written there, so no
 * log or state may go into it.
 */
export function pluginDirOf(executable: string): string {
  const driverDir = dirname(resolve(executable));
  return basename(driverDir).includes('~') ? dirname(driverDir) : driverDir;
}

/** Whether `path` is `dir` or lies below it (lexically, after resolving both). */
export function isInside(path: string, dir: string): boolean {
  const rel = relative(resolve(dir), resolve(path));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** `path` with the symlinks of its longest existing ancestor resolved (the rest kept as written). */
export function resolvedPath(path: string): string {
  const rest: string[] = [];
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    try {
      return join(realpathSync(dir), ...rest.reverse());
    } catch {
      if (dir === '/') return resolve(path);
      rest.push(basename(dir));
    }
  }
}

/**
 * The directories that must stay free of anything the driver writes: kubelet's default plugin
 * directory and the one this executable is in, both as called and with symlinks resolved.
 */
export function forbiddenDirs(executable: string | undefined): string[] {
  const dirs = new Set([defaultPluginDir]);
  if (executable !== undefined) {
    dirs.add(pluginDirOf(executable));
    dirs.add(pluginDirOf(resolvedPath(executable)));
  }
  return [...dirs];
}
