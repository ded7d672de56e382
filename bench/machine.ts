import { readFile } from 'node:fs/promises';
import { availableParallelism, cpus, release, tmpdir, totalmem } from 'node:os';
import { run } from '../src/exec.js';

/** What a reader needs to compare these numbers with their own machine. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memory: string;
  kernel: string;
  os: string;
  node: string;
  utilLinux: string;
  /** Filesystem of the temp dir, where the sections keep their state roots and sources. */
  tempFs: string;
}

/** Reads the machine's description from the kernel, /etc/os-release and mount(8). */
export async function machineInfo(): Promise<MachineInfo> {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: release(),
    os: await osName(),
    node: process.version,
    utilLinux: await commandVersion('mount', /util-linux ([\d.]+)/),
    tempFs: `${tmpdir()} (${(await commandOutput('findmnt', ['--noheadings', '--output', 'FSTYPE', '--target', tmpdir()])) || 'unknown'})`,
  };
}

/** The machine as a markdown list. */
export function machineMarkdown(machine: MachineInfo): string {
  return [
    `- CPU: ${machine.cpu}, ${machine.cores} cores`,
    `- Memory: ${machine.memory}`,
    `- Kernel: Linux ${machine.kernel} (${machine.os})`,
    `- Node: ${machine.node}`,
    `- util-linux: ${machine.utilLinux}`,
    `- Temp dir: ${machine.tempFs}`,
  ].join('\n');
}

async function osName(): Promise<string> {
  const text = await readFile('/etc/os-release', 'utf8').catch(() => '');
  return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text)?.[1] ?? 'unknown';
}

async function commandVersion(command: string, pattern: RegExp): Promise<string> {
  const output = await commandOutput(command, ['--version']);
  return pattern.exec(output)?.[1] ?? (output || 'unknown');
}

async function commandOutput(command: string, args: string[]): Promise<string> {
  try {
    return (await run(command, args, { timeoutMs: 10_000 })).stdout.trim();
  } catch {
    return '';
  }
}
