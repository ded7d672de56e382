import { createHash } from 'node:crypto';

/**
 * Escaping of one path component of the on-disk layout. Every byte outside a readable safe set
 * becomes `%XX`, a leading `.` too (so a component is never `.`, `..` or hidden), and the empty
 * string becomes a lone `%`. The result never contains `/` or NUL, and `decodeComponent` inverts
 * it exactly. Encodings longer than 255 bytes (the Linux limit for one name) keep a readable
 * prefix and end in `~` plus a SHA-256 prefix of the whole value: `~` is never produced by the
 * escaping itself, so hashed and unhashed components cannot collide. A hashed component cannot
 * be decoded; the share's `share.json` keeps the full value.
 */
export const maxComponentBytes = 255;
const hashedPrefixBytes = 200;
const hashHexChars = 40;

const safeByte = new Uint8Array(256);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.,=+@:') safeByte[ch.charCodeAt(0)] = 1;
const dot = '.'.charCodeAt(0);

export function encodeComponent(value: string, maxBytes = maxComponentBytes): string {
  if (!value.isWellFormed()) throw new TypeError('cannot encode a string with unpaired surrogates');
  const bytes = Buffer.from(value, 'utf8');
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    out += safeByte[b] && !(i === 0 && b === dot) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out === '') return '%';
  if (out.length <= maxBytes) return out; // all ASCII, so length is bytes
  let prefix = out.slice(0, Math.min(hashedPrefixBytes, maxBytes - hashHexChars - 1));
  const lastEscape = prefix.lastIndexOf('%');
  if (lastEscape > prefix.length - 3) prefix = prefix.slice(0, lastEscape); // never cut inside %XX
  return `${prefix}~${createHash('sha256').update(bytes).digest('hex').slice(0, hashHexChars)}`;
}

/** Whether a component carries a hash instead of the whole value. */
export function isHashedComponent(component: string): boolean {
  return component.includes('~');
}

/** Inverts `encodeComponent`; throws on anything it could not have produced. */
export function decodeComponent(component: string): string {
  if (component === '%') return '';
  if (isHashedComponent(component)) throw new TypeError(`component is hashed and cannot be decoded: ${component.slice(0, 32)}...`);
  const bytes: number[] = [];
  for (let i = 0; i < component.length; i++) {
    const ch = component.charCodeAt(i);
    if (ch === 0x25 /* % */) {
      const hex = component.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) throw new TypeError(`bad escape at offset ${i}`);
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (ch < 256 && safeByte[ch]) {
      bytes.push(ch);
    } else {
      throw new TypeError(`unexpected character at offset ${i}`);
    }
  }
  const value = Buffer.from(bytes).toString('utf8');
  if (encodeComponent(value) !== component) throw new TypeError('component is not in canonical form');
  return value;
}
