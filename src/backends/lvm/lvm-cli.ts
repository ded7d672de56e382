import { run } from '../../exec.js';
import { SharemountError, isSharemountError } from '../../errors.js';

/**
 * How to run lvm2, injectable so that tests (and nodes with a non-standard setup) can isolate
 * it: `env` (e.g. `LVM_SYSTEM_DIR` pointing at a private lvm.conf) and `configArgs` given to
 * every command (e.g. `['--config', 'global/activation=0']`).
 */
export interface LvmCliOptions {
  /** The lvm2 multi-call binary; every command runs as `<command> <subcommand> ...`. */
  command?: string;
  env?: Record<string, string>;
  configArgs?: readonly string[];
  /** Bound for each lvm2 command. */
  timeoutMs?: number;
}

/** What an lvm2 failure concerned, for naming the field in a mapped error. */
export interface LvmErrorContext {
  vg?: string;
  lv?: string;
  thin?: string;
}

/** lvm2 as a function: runs one subcommand with the configured isolation and bound. */
export type LvmCli = (subcommand: string, args: readonly string[], context?: LvmErrorContext) => Promise<string>;

export const defaultLvmTimeoutMs = 60_000;

/** An LvmCli running the real lvm2; failures become SharemountErrors with meaningful codes. */
export function lvmCli(options: LvmCliOptions = {}): LvmCli {
  const command = options.command ?? 'lvm';
  // C locale: stable messages to classify. lvm2 warns about (and closes) every inherited file
  // descriptor beyond stdio; Node and the lock module leave some open on purpose.
  const env = { LC_ALL: 'C', LANG: 'C', LVM_SUPPRESS_FD_WARNINGS: '1', ...options.env };
  const timeoutMs = options.timeoutMs ?? defaultLvmTimeoutMs;
  return async (subcommand, args, context = {}) => {
    try {
      const { stdout } = await run(command, [subcommand, ...(options.configArgs ?? []), ...args], { timeoutMs, env });
      return stdout;
    } catch (error) {
      throw classifyLvmError(error, context);
    }
  };
}

/**
 * Maps lvm2's failure messages onto error codes: an unknown VG or LV is NOT_FOUND, lack of
 * space RESOURCE_EXHAUSTED, a duplicate ALREADY_EXISTS, a refused name INVALID_ARGUMENT, an LV
 * still open FAILED_PRECONDITION. Anything else stays COMMAND_FAILED with lvm2's own words.
 */
export function classifyLvmError(error: unknown, context: LvmErrorContext = {}): unknown {
  if (!isSharemountError(error, 'COMMAND_FAILED')) return error;
  const stderr = String(error.details?.stderr ?? '');
  const said = meaningfulLines(stderr);
  const make = (code: ConstructorParameters<typeof SharemountError>[0], message: string, field?: string) =>
    new SharemountError(code, `${message}${said ? ` (lvm2: ${said})` : ''}`, { field, cause: error, details: error.details });
  if (/Volume group "[^"]*" not found|Cannot process volume group/.test(stderr)) {
    return make('NOT_FOUND', `volume group ${context.vg ?? '(unnamed)'} not found`, 'volumeGroup');
  }
  if (/Pool [^ ]+ not found|Failed to find.*pool|is not a thin pool|Unknown thin pool/i.test(stderr)) {
    return make('NOT_FOUND', `thin pool ${context.thin ?? ''} not found in volume group ${context.vg ?? ''}`, 'thin');
  }
  if (/Failed to find logical volume|Logical volume [^ ]+ not found/.test(stderr)) {
    return make('NOT_FOUND', `logical volume ${context.vg ?? ''}/${context.lv ?? ''} not found`);
  }
  if (/insufficient (suitable allocatable extents|free space)|Insufficient free space|free space in thin pool .* reached threshold|exceeds the size of thin pool/i.test(stderr)) {
    return make('RESOURCE_EXHAUSTED', `not enough free space in volume group ${context.vg ?? ''}${context.thin ? ` (thin pool ${context.thin})` : ''}`);
  }
  if (/already exists in volume group/.test(stderr)) {
    return make('ALREADY_EXISTS', `logical volume ${context.vg ?? ''}/${context.lv ?? ''} already exists`);
  }
  if (/Names (starting|including) .* are reserved|invalid characters|Invalid (LV|VG|logical volume|volume group) name/i.test(stderr)) {
    return make('INVALID_ARGUMENT', 'lvm2 refused the name', 'name');
  }
  if (/in use|is open|contains a filesystem in use/i.test(stderr)) {
    return make('FAILED_PRECONDITION', `logical volume ${context.vg ?? ''}/${context.lv ?? ''} is in use`);
  }
  return error;
}

// lvm2 repeats "WARNING: Activation disabled..." and similar notes on every run; keep the errors.
function meaningfulLines(stderr: string): string {
  return stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('WARNING:') && !/^Run `\w+ --help'/.test(line))
    .join('; ');
}
