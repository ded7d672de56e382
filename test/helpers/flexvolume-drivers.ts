import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const built = new Map<string, Promise<string>>();

/** The FlexVolume drivers the tests build, by `vendor~driver`. */
export const driverEntries = {
  'sharemount~bind': 'test/fixtures/flexvolume-bind/driver.ts',
  'sharemount~nfs': 'examples/flexvolume-nfs/driver.ts',
  'sharemount~lvm': 'examples/flexvolume-lvm/driver.ts',
} as const;

export type DriverDir = keyof typeof driverEntries;

/**
 * Builds a driver into its single executable with the project's own build script (once per
 * test process) and returns its path under build/flexvolume.
 */
export function buildDriver(driverDir: DriverDir): Promise<string> {
  let pending = built.get(driverDir);
  if (pending === undefined) {
    pending = (async () => {
      await execa('bash', ['scripts/build-flexvolume.sh', `${driverEntries[driverDir]}=${driverDir}`], {
        cwd: repo,
        env: { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}` },
      });
      return join(repo, 'build/flexvolume', driverDir, driverDir.split('~')[1]!);
    })();
    built.set(driverDir, pending);
  }
  return pending;
}

/**
 * Builds the driver and installs it into `pluginDir` with the example's install script (copy to
 * a dot-file, rename), as the DaemonSet does on a node. Returns the installed executable.
 */
export async function installDriver(driverDir: DriverDir, pluginDir: string): Promise<string> {
  const executable = await buildDriver(driverDir);
  await mkdir(pluginDir, { recursive: true });
  await execa('sh', [join(repo, 'examples/install-flexvolume-driver.sh'), executable], { env: { PLUGIN_DIR: pluginDir, VENDOR_DRIVER: driverDir } });
  return join(pluginDir, driverDir, driverDir.split('~')[1]!);
}
