import * as z from '../zod.js';
import { fromZodError, invalidArgument } from '../errors.js';

/** The option keys kubelet itself puts into every JSON argument (kubelet's pkg/volume/flexvolume; docs/flexvolume.md). */
export const kubeletKeys = {
  fsType: 'kubernetes.io/fsType',
  readwrite: 'kubernetes.io/readwrite',
  pvOrVolumeName: 'kubernetes.io/pvOrVolumeName',
  podName: 'kubernetes.io/pod.name',
  podNamespace: 'kubernetes.io/pod.namespace',
  podUid: 'kubernetes.io/pod.uid',
  serviceAccountName: 'kubernetes.io/serviceAccount.name',
  fsGroup: 'kubernetes.io/mounterArgs.FsGroup',
} as const;

/** `kubernetes.io/secret/<key>`: one per key of the volume's secret, value base64. */
export const secretKeyPrefix = 'kubernetes.io/secret/';
const kubeletPrefix = 'kubernetes.io/';

/** What kubelet told the driver about the pod and the volume, typed. */
export interface KubeletOptions {
  /** `kubernetes.io/fsType`; undefined when kubelet sent an empty string. */
  fsType: string | undefined;
  /** `kubernetes.io/readwrite` is `ro`. */
  readOnly: boolean;
  /** The PV's name, or the inline volume's name. */
  pvOrVolumeName: string | undefined;
  /** Present on `mount` only. */
  pod: { name: string | undefined; namespace: string | undefined; uid: string | undefined };
  serviceAccountName: string | undefined;
  /** The pod's fsGroup, when it sets one. */
  fsGroup: number | undefined;
  /** The volume's secret, values decoded as UTF-8 text. Never log these. */
  secrets: Readonly<Record<string, string>>;
  /** The same values as the bytes they are (a keytab, a DER key: not text). Never log these. */
  secretBytes: Readonly<Record<string, Buffer>>;
}

/** A JSON argument split into kubelet's part and the driver's own options. */
export interface ParsedVolumeOptions {
  kubelet: KubeletOptions;
  /** Every key outside `kubernetes.io/`: the volume spec's `options`, still raw strings. */
  driverOptions: Record<string, string>;
  /** `kubernetes.io/` keys this shim does not know (a newer kubelet): ignored, worth a log line. */
  unknownKubeletKeys: string[];
}

// Linux caps one argv element at 128 KiB (MAX_ARG_STRLEN), so kubelet's JSON argument (every key
// of the pod's secret, base64, among it) can never be larger: the caps only bound a hostile call.
const maxKeys = 4096;
const maxValueBytes = 128 * 1024;
const maxGid = 4_294_967_294; // (gid_t)-1 means "no change" to chown, so it is not a group

// Kubernetes names: a DNS-1123 subdomain (pod, service account) or label (namespace).
const dnsSubdomain = z.string().check(z.maxLength(253), z.regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a DNS-1123 subdomain'));
const dnsLabel = z.string().check(z.maxLength(63), z.regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label'));
const emptyAsUndefined = (value: string | undefined) => (value === '' ? undefined : value);

const kubeletSchema = z.object({
  [kubeletKeys.fsType]: z.pipe(
    z.optional(
      z.string().check(
        z.maxLength(64),
        // kubelet passes the volume spec's fsType as written ("NFS", "ext4"); only what could not
        // be a filesystem type name is refused here, and a backend that uses it checks it further.
        z.regex(/^([A-Za-z0-9][A-Za-z0-9._+-]*)?$/, 'must be a filesystem type name such as ext4 or xfs'),
      ),
    ),
    z.transform(emptyAsUndefined),
  ),
  [kubeletKeys.readwrite]: z._default(z.enum(['ro', 'rw'], 'must be "ro" or "rw"'), 'rw'),
  [kubeletKeys.pvOrVolumeName]: z.pipe(z.optional(z.string().check(z.maxLength(253))), z.transform(emptyAsUndefined)),
  [kubeletKeys.podName]: z.optional(dnsSubdomain),
  [kubeletKeys.podNamespace]: z.optional(dnsLabel),
  // Only logged: any UID kubelet has (a static pod keeps the one its manifest names), never a control character.
  [kubeletKeys.podUid]: z.optional(z.string().check(z.regex(/^[^\u0000-\u001f\u007f]{1,128}$/, 'must be a UID of at most 128 characters, without control characters'))),
  [kubeletKeys.serviceAccountName]: z.pipe(z.optional(z.union([z.literal(''), dnsSubdomain])), z.transform(emptyAsUndefined)),
  [kubeletKeys.fsGroup]: z.optional(
    z.pipe(z.string().check(z.regex(/^\d{1,10}$/, 'must be a group id (decimal digits)')), z.transform(Number)).check(z.refine((gid) => gid <= maxGid, `must be at most ${maxGid}`)),
  ),
});

const secretName = /^[-._a-zA-Z0-9]{1,253}$/;
const base64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Parses a JSON argument exactly as kubelet sends it: one flat object of string values.
 * Errors name the key (`options.kubernetes.io/readwrite`) and never quote a value, so a secret
 * cannot leak through a Failure message.
 */
export function parseVolumeOptions(json: string): ParsedVolumeOptions {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    // V8's message quotes the input, which may hold a secret: keep only where it went wrong.
    const position = /at position (\d+)/.exec((error as Error).message)?.[1];
    throw invalidArgument('options', `is not valid JSON${position === undefined ? '' : ` (at position ${position})`}: kubelet passes one JSON object of strings`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw invalidArgument('options', 'must be a JSON object of string values');
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > maxKeys) throw invalidArgument('options', `has more than ${maxKeys} keys`);
  const kubeletPart: Record<string, string> = {};
  const driverOptions: Record<string, string> = {};
  const secrets: Record<string, string> = {};
  const secretBytes: Record<string, Buffer> = {};
  const unknownKubeletKeys: string[] = [];
  const known = new Set<string>(Object.values(kubeletKeys));
  for (const [key, value] of entries) {
    const field = `options.${key}`;
    const isSecret = key.startsWith(secretKeyPrefix);
    if (typeof value !== 'string') throw invalidArgument(field, 'must be a string (kubelet sends every value as a string)');
    if (Buffer.byteLength(value) > maxValueBytes) throw invalidArgument(field, `is longer than ${maxValueBytes} bytes`);
    if (isSecret) {
      const name = key.slice(secretKeyPrefix.length);
      if (!secretName.test(name)) throw invalidArgument(field, 'secret key must match [-._a-zA-Z0-9]+');
      if (!base64.test(value)) throw invalidArgument(field, 'must be base64 (kubelet encodes secret values)');
      const bytes = Buffer.from(value, 'base64');
      setOwn(secretBytes, name, bytes);
      setOwn(secrets, name, bytes.toString('utf8'));
    } else if (known.has(key)) {
      kubeletPart[key] = value;
    } else if (key.startsWith(kubeletPrefix)) {
      unknownKubeletKeys.push(key);
    } else {
      if (key === '' || key.includes('\0')) throw invalidArgument('options', 'has an empty key or a key with a NUL byte');
      setOwn(driverOptions, key, value);
    }
  }
  const parsed = kubeletSchema.safeParse(kubeletPart);
  if (!parsed.success) throw fromZodError(parsed.error, 'options');
  const k = parsed.data;
  return {
    kubelet: {
      fsType: k[kubeletKeys.fsType],
      readOnly: k[kubeletKeys.readwrite] === 'ro',
      pvOrVolumeName: k[kubeletKeys.pvOrVolumeName],
      pod: { name: k[kubeletKeys.podName], namespace: k[kubeletKeys.podNamespace], uid: k[kubeletKeys.podUid] },
      serviceAccountName: k[kubeletKeys.serviceAccountName],
      fsGroup: k[kubeletKeys.fsGroup],
      secrets,
      secretBytes,
    },
    driverOptions,
    unknownKubeletKeys,
  };
}

// A plain assignment of `__proto__` would set the prototype and drop the option silently.
function setOwn<T>(record: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The JSON argument with every secret value replaced, for a log line. */
export function redactOptions(options: Record<string, unknown>, sensitiveKeys: readonly string[] = []): Record<string, unknown> {
  const sensitive = new Set(sensitiveKeys);
  return Object.fromEntries(
    Object.entries(options).map(([key, value]) => [key, key.startsWith(secretKeyPrefix) || sensitive.has(key) ? '[Redacted]' : value]),
  );
}
