import * as z from './zod.js';
import { fromZodError, invalidArgument } from './errors.js';
import { silentLogger, type Logger } from './logger.js';
import { isShareKeyShape } from './state.js';
import type { AnyBackend } from './backend.js';
import type { ShareKey } from './share-key.js';

export interface Timeouts {
  /** Bound on the external commands the core runs (mount, umount) and backends' quick probes; long backend commands (mkfs, lvm2) have their own. Default 30 s. */
  commandMs: number;
  /** Longest wait for each lock held by another operation (of this process or another) on the same share or target; then BUSY. Default 60 s. */
  lockMs: number;
  /** Bound on in-process filesystem calls into a share (hung-mount detection). Default 10 s. */
  fsMs: number;
}

export const defaultTimeouts: Timeouts = { commandMs: 30_000, lockMs: 60_000, fsMs: 10_000 };

export interface MountManagerOptions {
  /** Absolute path of the state root (`/var/lib/sharemount`); created when missing. */
  root: string;
  backends: readonly AnyBackend[];
  logger?: Logger;
  timeouts?: Partial<Timeouts>;
}

// Node fires a longer timer at once (after a TimeoutOverflowWarning): every call would time out.
const longestTimerMs = 2 ** 31 - 1;
const milliseconds = z.int('must be a whole number of milliseconds').check(z.minimum(1, 'must be at least 1 ms'), z.maximum(longestTimerMs, `must be at most ${longestTimerMs} ms (the longest timer Node can set)`));
const isFunction = (value: unknown) => typeof value === 'function';
// zod 4 schemas, classic and mini, carry `_zod` and the parse methods; zod 3 ones lack `_zod`.
const isZodSchema = (value: unknown) => isFunction((value as { safeParse?: unknown } | null)?.safeParse) && typeof (value as { _zod?: unknown })._zod === 'object';

const optionsSchema = z.strictObject({
  root: z.string('must be an absolute path').check(z.startsWith('/', 'must be an absolute path')),
  backends: z.array(
    z.looseObject({
      name: z.string().check(z.regex(/^[a-z][a-z0-9-]{0,31}$/, 'must match ^[a-z][a-z0-9-]{0,31}$')),
      sourceSchema: z.custom(isZodSchema, 'must be a zod 4 schema (classic or mini)'),
      layout: z.custom(isFunction, 'must be a function'),
      mount: z.custom(isFunction, 'must be a function'),
    }),
  ),
  logger: z.optional(
    z.custom<Logger>((value) => ['debug', 'info', 'warn', 'error'].every((level) => isFunction((value as unknown as Record<string, unknown> | null)?.[level])), 'must have debug, info, warn and error methods (a pino logger does)'),
  ),
  timeouts: z.optional(z.partial(z.strictObject({ commandMs: milliseconds, lockMs: milliseconds, fsMs: milliseconds }))),
});

export interface UnpublishOptions {
  /** Remove the target directory afterwards when it is empty (CSI wants it; kubelet's FlexVolume does it itself). Default true. */
  removeTarget?: boolean;
}

const unpublishOptionsSchema = z.strictObject({ removeTarget: z.optional(z.boolean()) });

/** Validates `unpublish`'s options; `removeTarget` defaults to true. */
export function checkUnpublishOptions(input: unknown): { removeTarget: boolean } {
  const parsed = unpublishOptionsSchema.safeParse(input);
  if (!parsed.success) throw fromZodError(parsed.error);
  return { removeTarget: parsed.data.removeTarget ?? true };
}

// A share key names directories under the root: one that could lead out of it is refused.
const reconcileOptionsSchema = z.strictObject({
  share: z.optional(z.string().check(z.refine(isShareKeyShape, 'must be a share key as publish and shareKeyOf return it'))),
});

/** Validates `reconcile`'s options. */
export function checkReconcileOptions(input: unknown): { share?: ShareKey } {
  const parsed = reconcileOptionsSchema.safeParse(input);
  if (!parsed.success) throw fromZodError(parsed.error);
  return parsed.data;
}

/** A MountManager's options, checked: each backend under its unique name, every timeout set. */
export interface CheckedManagerOptions {
  root: string;
  backends: ReadonlyMap<string, AnyBackend>;
  logger: Logger;
  timeouts: Timeouts;
}

/** Validates `new MountManager(options)`; throws INVALID_ARGUMENT naming the field (`timeouts.fsMs`, `backends.1.name`). */
export function checkManagerOptions(input: unknown): CheckedManagerOptions {
  const parsed = optionsSchema.safeParse(input);
  if (!parsed.success) throw fromZodError(parsed.error);
  const options = input as MountManagerOptions; // the caller's own objects, not zod's copies
  const backends = new Map<string, AnyBackend>();
  for (const [index, backend] of options.backends.entries()) {
    if (backends.has(backend.name)) throw invalidArgument(`backends.${index}.name`, `two backends are named "${backend.name}"`);
    backends.set(backend.name, backend);
  }
  return { root: options.root, backends, logger: options.logger ?? silentLogger, timeouts: { ...defaultTimeouts, ...parsed.data.timeouts } };
}
