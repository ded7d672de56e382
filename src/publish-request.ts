import { z } from 'zod';
import { fromZodError, invalidArgument } from './errors.js';
import { canonicalOptions, type OptionList } from './options.js';
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
}

export const defaultCreateMode = 0o755;

const optionListSchema = z.union([z.string(), z.array(z.string())]);

const requestSchema = z.strictObject({
  source: z.looseObject({ backend: z.string().min(1, 'must name a backend') }),
  options: optionListSchema.optional(),
  sensitiveOptions: optionListSchema.optional(),
  subPath: z.string().optional(),
  createIfNecessary: z.boolean().optional(),
  createMode: z
    .union([
      z.number().int().min(0).max(0o7777, 'must be at most 07777'),
      z.string().regex(/^0?[0-7]{3,4}$/, 'must be an octal mode like "0755"'),
    ])
    .optional(),
  readOnly: z.boolean().optional(),
  target: z.string(),
  strategy: z.enum(['bind', 'symlink']).optional(),
});

/** The share part of a request: enough to name the share, without a target. */
export const shareRequestSchema = requestSchema.pick({ source: true, options: true, sensitiveOptions: true });

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
  backend.checkOptions?.(options, 'options');
  const sensitiveOptions = canonicalOptions(parsed.sensitiveOptions, 'sensitiveOptions', true);
  return { backend, source: source.data as Source, options, sensitiveOptions };
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
  };
}
