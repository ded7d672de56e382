import * as z from '../../zod.js';
import { isSharemountError } from '../../errors.js';
import { canonicalOptions, type OptionList } from '../../options.js';
import { checkSubPath } from '../../subpath.js';
import type { VolumeSpec } from '../../backend.js';
import { canonicalExport, canonicalServer, type NfsSource } from './source.js';
import { checkNfsOptions } from './options.js';

/** What happens to a provisioned sub-directory when its volume is deleted. */
export type OnDeletePolicy = 'delete' | 'retain' | 'archive';

/** NFS volume parameters after validation: canonical, typed. */
export interface NfsParameters {
  server: string;
  export: string;
  mountOptions: OptionList;
  subPath?: string;
  createIfNecessary?: boolean;
  createMode?: number;
  /** Provisioning: what deleteVolume does with the data (default `retain`). */
  onDelete: OnDeletePolicy;
  /** Provisioning: the sub-directory name template (see subdir-name.ts). */
  subDirTemplate?: string;
  /** Provisioning: mode of a created sub-directory (default 0777, as nfs-subdir-external-provisioner). */
  directoryMode: number;
  directoryUid?: number;
  directoryGid?: number;
  /** Claim metadata from CSI's `--extra-create-metadata`, for the name template. */
  pvName?: string;
  pvcName?: string;
  pvcNamespace?: string;
}

export const defaultDirectoryMode = 0o777;

// Keys with a "/" are an orchestrator's (`csi.storage.k8s.io/pvc/name`, `kubernetes.io/...`,
// `storage.kubernetes.io/csiProvisionerIdentity`): they arrive whether or not a backend wants
// them, so they are ignored. The three claim keys are read for the name template.
const claimKeys = new Set(['csi.storage.k8s.io/pv/name', 'csi.storage.k8s.io/pvc/name', 'csi.storage.k8s.io/pvc/namespace']);

const booleanString = z.union([z.boolean(), z.pipe(z.enum(['true', 'false']), z.transform((v) => v === 'true'))], { error: 'must be true or false' });
const modeValue = z.union(
  [
    z.int().check(z.minimum(0), z.maximum(0o7777, 'must be at most 07777')),
    z.pipe(z.string().check(z.regex(/^0?[0-7]{3,4}$/, 'must be an octal mode like "0755"')), z.transform((v) => Number.parseInt(v, 8))),
  ],
  { error: 'must be an octal mode string like "0755" or a number up to 0o7777' },
);
const idValue = z.union(
  [
    z.int().check(z.minimum(0), z.maximum(0xfffffffe)),
    z.pipe(z.pipe(z.string().check(z.regex(/^(0|[1-9][0-9]{0,9})$/, 'must be a decimal number')), z.transform(Number)), z.number().check(z.maximum(0xfffffffe, 'is too large'))),
  ],
  { error: 'must be a user or group id: a decimal number from 0 to 4294967294' },
);
const optionList = z.union([z.string(), z.array(z.string())]);

const known = z.strictObject({
  server: z.optional(z.string()),
  share: z.optional(z.string()),
  mountOptions: z.optional(optionList),
  subPath: z.optional(z.string()),
  createIfNecessary: z.optional(booleanString),
  createMode: z.optional(modeValue),
  onDelete: z.optional(z.enum(['delete', 'retain', 'archive'])),
  subDirTemplate: z.optional(z.string().check(z.maxLength(1024))),
  directoryMode: z.optional(modeValue),
  directoryUid: z.optional(idValue),
  directoryGid: z.optional(idValue),
  'csi.storage.k8s.io/pv/name': z.optional(z.string()),
  'csi.storage.k8s.io/pvc/name': z.optional(z.string()),
  'csi.storage.k8s.io/pvc/namespace': z.optional(z.string()),
});

/**
 * Splits nfs-flex-volume's `share` form, `server:/export` (or `[v6addr]:/export`). Returns
 * undefined when the value is a bare export path.
 */
export function splitShare(share: string): { server: string; export: string } | undefined {
  if (share.startsWith('/')) return undefined;
  const at = share.startsWith('[') ? share.indexOf(']:') + 1 : share.indexOf(':');
  if (at <= 0) return { server: share, export: '' };
  return { server: share.slice(0, at), export: share.slice(at + 1) };
}

/**
 * Validates NFS volume parameters as drivers receive them: flat strings (FlexVolume options, CSI
 * volume context, StorageClass parameters), booleans and numbers also accepted. Unknown plain
 * keys are refused by name (a typo such as `mountOption` must not silently drop options);
 * domain-prefixed keys (`csi.storage.k8s.io/...`) belong to the orchestrator and are ignored.
 */
export const nfsParametersSchema: z.ZodMiniType<NfsParameters> = z.pipe(
  z.record(z.string(), z.unknown()),
  z.transform((raw: Record<string, unknown>, ctx) => {
    const plain: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(raw)) {
      if (claimKeys.has(key) || !key.includes('/')) plain[key] = value;
    }
    const parsed = known.safeParse(plain);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        if (issue.code === 'unrecognized_keys') {
          for (const key of issue.keys) ctx.issues.push({ code: 'custom', message: `is not an NFS parameter (known: ${Object.keys(known.shape).join(', ')})`, path: [key], input: undefined });
        } else {
          ctx.issues.push({ code: 'custom', message: issue.message, path: [...issue.path], input: undefined });
        }
      }
      return z.NEVER;
    }
    const p = parsed.data;
    const fail = (path: string, message: string) => {
      ctx.issues.push({ code: 'custom', message, path: [path], input: undefined });
      return z.NEVER;
    };

    // The location: `server` + `share` (an export path), or `share` as `server:/export` alone.
    if (p.share === undefined) return fail('share', 'is required: an export path with `server`, or `server:/export`');
    const split = splitShare(p.share);
    if (split !== undefined && p.server !== undefined) {
      const a = canonicalServer(split.server);
      const b = canonicalServer(p.server);
      if (!('server' in a) || !('server' in b) || a.server !== b.server) return fail('server', 'differs from the server named in `share`');
    }
    const rawServer = split?.server ?? p.server;
    if (rawServer === undefined) return fail('server', 'is required when `share` is a bare export path');
    const server = canonicalServer(rawServer);
    if ('problem' in server) return fail(split ? 'share' : 'server', `server ${server.problem}`);
    const exported = canonicalExport(split?.export ?? p.share);
    if ('problem' in exported) return fail('share', `export path ${exported.problem}`);

    let mountOptions: OptionList;
    let subPath: string | undefined;
    try {
      mountOptions = canonicalOptions(p.mountOptions, 'mountOptions');
      checkNfsOptions(mountOptions, 'mountOptions');
      subPath = p.subPath === undefined ? undefined : checkSubPath(p.subPath, 'subPath');
    } catch (error) {
      if (!isSharemountError(error, 'INVALID_ARGUMENT') || error.field === undefined) throw error;
      return fail(error.field, error.message.slice(error.field.length + 2));
    }

    const result: NfsParameters = {
      server: server.server,
      export: exported.export,
      mountOptions,
      onDelete: p.onDelete ?? 'retain',
      directoryMode: p.directoryMode ?? defaultDirectoryMode,
    };
    if (subPath !== undefined && subPath !== '') result.subPath = subPath;
    if (p.createIfNecessary !== undefined) result.createIfNecessary = p.createIfNecessary;
    if (p.createMode !== undefined) result.createMode = p.createMode;
    if (p.subDirTemplate !== undefined) result.subDirTemplate = p.subDirTemplate;
    if (p.directoryUid !== undefined) result.directoryUid = p.directoryUid;
    if (p.directoryGid !== undefined) result.directoryGid = p.directoryGid;
    const pvName = p['csi.storage.k8s.io/pv/name'];
    const pvcName = p['csi.storage.k8s.io/pvc/name'];
    const pvcNamespace = p['csi.storage.k8s.io/pvc/namespace'];
    if (pvName !== undefined) result.pvName = pvName;
    if (pvcName !== undefined) result.pvcName = pvcName;
    if (pvcNamespace !== undefined) result.pvcNamespace = pvcNamespace;
    return result;
  }),
) as unknown as z.ZodMiniType<NfsParameters>;

/** What to publish for these parameters: the export as the share, `subPath` inside it. */
export function nfsVolume(parameters: NfsParameters): VolumeSpec<NfsSource> {
  const spec: VolumeSpec<NfsSource> = {
    source: { backend: 'nfs', server: parameters.server, export: parameters.export },
    options: parameters.mountOptions,
  };
  if (parameters.subPath !== undefined) spec.subPath = parameters.subPath;
  if (parameters.createIfNecessary !== undefined) spec.createIfNecessary = parameters.createIfNecessary;
  if (parameters.createMode !== undefined) spec.createMode = parameters.createMode;
  return spec;
}
