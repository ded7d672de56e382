import * as z from './zod.js';
import { fromZodError, invalidArgument, isSharemountError } from './errors.js';
import { canonicalOptions, optionName, type OptionList } from './options.js';
import { contradictoryPair } from './option-conflicts.js';
import { checkSubPath } from './subpath.js';
import { checkTargetShape } from './target.js';
import type { AnyBackend, Source, SourceInput } from './backend.js';

export type Strategy = 'bind' | 'symlink';

/** What a consumer asks `MountManager.publish` for. */
export interface PublishRequest {
  /** The storage source, `{ backend: 'nfs', server, export }` and the like. */
  source: SourceInput;
  /** Mount options of the share: a comma list or an array; order and duplicates do not matter. */
  options?: string | readonly string[];
  /** Secret mount options: part of the share's identity, never written anywhere readable. */
  sensitiveOptions?: string | readonly string[];
  /** Directory inside the share to publish (default: the share's root). */
  subPath?: string;
  /** Create `subPath` (inside the share only) when missing. */
  createIfNecessary?: boolean;
  /** Mode of directories created for `subPath`: a number or an octal string (`"0750"`). */
  createMode?: number | string;
  /** Publish read-only (a bind mount remounted `ro`). */
  readOnly?: boolean;
  /** Absolute path where the consumer sees the volume; the publication's identity. */
  target: string;
  /** `bind` (default) or `symlink` (opt-in; see docs/strategies.md for what it breaks). */
  strategy?: Strategy;
  /**
   * Whose publication this is, in the caller's terms: kept in its reference and returned with
   * it, never interpreted (the CSI shim keeps the volume id here). Repeating the publication
   * with another label is ALREADY_EXISTS (one made without a label matches any). At most 1,024
   * characters; not for secrets: references are plain files.
   */
  label?: string;
}

/** A request after every check: canonical, typed, safe to act on. */
export interface CheckedRequest {
  backend: AnyBackend;
  source: Source;
  options: OptionList;
  sensitiveOptions: OptionList;
  subPath: string;
  createIfNecessary: boolean;
  createMode: number;
  readOnly: boolean;
  target: string;
  strategy: Strategy;
  label: string | undefined;
}

export const defaultCreateMode = 0o755;

const optionListSchema = z.union([z.string(), z.array(z.string())]);

const requestSchema = z.strictObject({
  source: z.looseObject({ backend: z.string().check(z.minLength(1, 'must name a backend')) }),
  options: z.optional(optionListSchema),
  sensitiveOptions: z.optional(optionListSchema),
  subPath: z.optional(z.string()),
  createIfNecessary: z.optional(z.boolean()),
  createMode: z.optional(
    z.union([
      z.int().check(z.minimum(0), z.maximum(0o7777, 'must be at most 07777')),
      z.string().check(z.regex(/^0?[0-7]{3,4}$/, 'must be an octal mode like "0755"')),
    ]),
  ),
  readOnly: z.optional(z.boolean()),
  target: z.string(),
  strategy: z.optional(z.enum(['bind', 'symlink'])),
  label: z.optional(z.string().check(z.maxLength(1024, 'must be at most 1024 characters'))),
});

/** The share part of a request: enough to name the share, without a target. */
export const shareRequestSchema = z.pick(requestSchema, { source: true, options: true, sensitiveOptions: true });

/** Validates the share part: backend, its source schema, both option sets. */
export function checkShareRequest(input: unknown, backends: ReadonlyMap<string, AnyBackend>) {
  const parsed = shareRequestSchema.safeParse(input);
  if (!parsed.success) throw fromZodError(parsed.error);
  return checkSharePart(parsed.data, backends);
}

/** The share part's checks beyond its shape (which the caller's schema has checked already). */
function checkSharePart(parsed: z.infer<typeof shareRequestSchema>, backends: ReadonlyMap<string, AnyBackend>) {
  const { source: rawSource } = parsed;
  const backend = backends.get(rawSource.backend);
  if (!backend) {
    throw invalidArgument('source.backend', `unknown backend "${rawSource.backend.slice(0, 64)}" (known: ${[...backends.keys()].join(', ')})`);
  }
  const source = backend.sourceSchema.safeParse(rawSource);
  if (!source.success) throw fromZodError(source.error, 'source');
  const options = canonicalOptions(parsed.options, 'options');
  checkBackendOptions(backend, options, parsed.options, 'options', false);
  const sensitiveOptions = canonicalOptions(parsed.sensitiveOptions, 'sensitiveOptions', true);
  checkBackendOptions(backend, sensitiveOptions, parsed.sensitiveOptions, 'sensitiveOptions', true);
  checkNoConflict(options, sensitiveOptions, parsed.sensitiveOptions);
  return { backend, source: source.data as Source, options, sensitiveOptions };
}

/**
 * The backend's own option checks, on either list: both reach mount(8) alike. The backend sees
 * the canonical (sorted) list, so an index it names is turned back into the caller's; for
 * secret options its message, which may quote the option, is replaced.
 */
function checkBackendOptions(backend: AnyBackend, canonical: OptionList, input: string | readonly string[] | undefined, field: string, sensitive: boolean): void {
  if (!backend.checkOptions || canonical.length === 0) return;
  try {
    backend.checkOptions(canonical, field);
  } catch (error) {
    if (!isSharemountError(error, 'INVALID_ARGUMENT') || error.field === undefined) throw error;
    const index = /\[(\d+)\]$/.exec(error.field)?.[1];
    const option = index === undefined ? undefined : canonical[Number(index)];
    const at = option === undefined ? error.field : `${field}[${indexInInput(input, option)}]`;
    const quoted = error.message.startsWith(`${error.field}: `) ? error.message.slice(error.field.length + 2) : error.message;
    // A plain option's value may still be a secret the caller did not mark (`pwd=...`): a
    // backend's message that quotes it whole shows its name only.
    const problem = option === undefined || !option.includes('=') ? quoted : quoted.split(option).join(`${optionName(option)}=…`);
    throw invalidArgument(at, sensitive ? `a sensitive option is not accepted by the ${backend.name} backend` : problem);
  }
}

/** Where `option` (canonical: trimmed) first appears in the caller's list. */
function indexInInput(input: string | readonly string[] | undefined, option: string): number {
  const items = typeof input === 'string' ? input.split(',') : (input ?? []);
  return Math.max(0, items.findIndex((item) => item.trim() === option));
}

/** The two lists are one set of options for mount(8): no option may be set in both with different values. */
function checkNoConflict(options: OptionList, sensitiveOptions: OptionList, input: string | readonly string[] | undefined): void {
  const values = new Map(options.map((option) => [optionName(option), option]));
  for (const option of sensitiveOptions) {
    const name = optionName(option);
    const other = values.get(name);
    // Each list has no contradiction of its own, so one found with `name` added involves it.
    const pair = other === undefined ? contradictoryPair(new Set([...values.keys(), name])) : undefined;
    if ((other !== undefined && other !== option) || pair) {
      const what = pair ? `contradicts "${pair[0] === name ? pair[1] : pair[0]}" in options` : 'conflicts with options';
      throw invalidArgument(`sensitiveOptions[${indexInInput(input, option)}]`, `sets option "${name}" in a way that ${what}`);
    }
  }
}

/** Validates a whole publish request; throws SharemountError INVALID_ARGUMENT naming the field. */
export function checkPublishRequest(input: unknown, backends: ReadonlyMap<string, AnyBackend>, root: string): CheckedRequest {
  const parsed = requestSchema.safeParse(input);
  if (!parsed.success) throw fromZodError(parsed.error);
  const request = parsed.data;
  const share = checkSharePart(request, backends);
  const strategy = request.strategy ?? 'bind';
  const readOnly = request.readOnly ?? false;
  if (strategy === 'symlink' && readOnly) {
    throw invalidArgument('readOnly', 'a symlink publication cannot be read-only (nothing would enforce it); use the bind strategy');
  }
  return {
    ...share,
    subPath: checkSubPath(request.subPath),
    createIfNecessary: request.createIfNecessary ?? false,
    createMode: typeof request.createMode === 'string' ? Number.parseInt(request.createMode, 8) : (request.createMode ?? defaultCreateMode),
    readOnly,
    target: checkTargetShape(request.target, root),
    strategy,
    label: request.label,
  };
}
