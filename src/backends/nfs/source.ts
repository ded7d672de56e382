import { isIPv4, isIPv6 } from 'node:net';
import { posix } from 'node:path';
import * as z from '../../zod.js';

/** What the NFS backend mounts: one export of one server. */
export interface NfsSource {
  backend: 'nfs';
  /** A lowercase hostname, a dotted-quad IPv4 address or a bracketed, compressed IPv6 address. */
  server: string;
  /** An absolute, normalised path on the server (no trailing slash, no `.` or `..` components). */
  export: string;
}

const maxHostnameBytes = 253;
const maxExportBytes = 1024;
const hostnameLabel = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Canonical form of a server name, or an error text. Hostnames are compared case-insensitively
 * by DNS, so they are lowercased; IPv6 addresses are written compressed in brackets (as mount.nfs
 * wants them in `[addr]:/export`), so every spelling of one address gives one share.
 */
export function canonicalServer(input: string): { server: string } | { problem: string } {
  if (input === '') return { problem: 'is empty' };
  if (input.startsWith('-')) return { problem: 'starts with "-"' };
  if (input.startsWith('[') && input.endsWith(']')) {
    const address = input.slice(1, -1);
    if (!isIPv6(address) || address.includes('%')) return { problem: 'is not a valid bracketed IPv6 address' };
    return { server: new URL(`http://[${address}]/`).hostname };
  }
  if (isIPv6(input)) return { problem: 'is an IPv6 address without brackets: write it as [address]' };
  if (/^[0-9.]+$/.test(input)) {
    // Digits and dots only: an IPv4 address, in strict dotted-quad form (no `127.1`, no leading zeros).
    if (!isIPv4(input)) return { problem: 'is not a valid IPv4 address' };
    return { server: input };
  }
  const host = input.toLowerCase().replace(/\.$/, '');
  if (Buffer.byteLength(host) > maxHostnameBytes) return { problem: `is longer than ${maxHostnameBytes} bytes` };
  if (!host.split('.').every((label) => hostnameLabel.test(label))) {
    return { problem: 'is not a hostname (letters, digits and "-" in dot-separated labels), an IPv4 address or a bracketed IPv6 address' };
  }
  return { server: host };
}

/**
 * Canonical form of an export path, or an error text: absolute, `//` and trailing `/` collapsed,
 * `.` dropped; `..` is refused rather than resolved (the server resolves paths, not us), and so
 * are control characters (a newline or NUL has no business in a path given to mount(8)).
 */
export function canonicalExport(input: string): { export: string } | { problem: string } {
  if (!input.startsWith('/')) return { problem: 'must be an absolute path (start with "/")' };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(input)) return { problem: 'contains a control character (NUL, newline...)' };
  if (!input.isWellFormed()) return { problem: 'is not valid Unicode (a lone surrogate)' };
  if (Buffer.byteLength(input) > maxExportBytes) return { problem: `is longer than ${maxExportBytes} bytes` };
  if (input.split('/').includes('..')) return { problem: 'contains a ".." component' };
  const normalised = posix.normalize(input);
  return { export: normalised.length > 1 ? normalised.replace(/\/+$/, '') : normalised };
}

/** A string schema whose output is `canonical(value)[key]`; the function's problem is the issue. */
function canonicalString<K extends string>(canonical: (value: string) => Record<K, string> | { problem: string }, key: K) {
  return z.pipe(
    z.string(),
    z.transform((value: string, ctx) => {
      const result = canonical(value);
      if ('problem' in result) {
        ctx.issues.push({ code: 'custom', message: result.problem, input: value });
        return z.NEVER;
      }
      return (result as Record<K, string>)[key];
    }),
  );
}

/** zod refinement for a server name; outputs the canonical form. */
export const serverSchema = canonicalString(canonicalServer, 'server');

/** zod refinement for an export path; outputs the canonical form. */
export const exportSchema = canonicalString(canonicalExport, 'export');

/** Validates an NfsSource and puts server and export in canonical form. */
export const nfsSourceSchema: z.ZodMiniType<NfsSource> = z.strictObject({
  backend: z.literal('nfs'),
  server: serverSchema,
  export: exportSchema,
});

/** The share's place in the on-disk layout: `host/<server>/path/<export>`. */
export function nfsLayout(source: NfsSource): ReadonlyArray<readonly [string, string]> {
  return [
    ['host', source.server],
    ['path', source.export],
  ];
}

/** The device argument of `mount -t nfs`: `server:/export`, `[v6addr]:/export`. */
export function nfsDevice(source: NfsSource): string {
  return `${source.server}:${source.export}`;
}
