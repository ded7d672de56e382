import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeComponent, encodeComponent, isHashedComponent, maxComponentBytes } from '../../src/escape.js';

const wellFormed = fc.string({ unit: 'grapheme', maxLength: 300 });
const anyBytesLike = fc.string({ unit: 'binary', maxLength: 120 }).filter((s) => s.isWellFormed());

describe('encodeComponent', () => {
  it('inverts exactly: decode(encode(x)) === x for every value that fits', () => {
    fc.assert(
      fc.property(fc.oneof(wellFormed, anyBytesLike), (value) => {
        const encoded = encodeComponent(value);
        fc.pre(!isHashedComponent(encoded));
        expect(decodeComponent(encoded)).toBe(value);
      }),
      { numRuns: 2000 },
    );
  });

  it('never yields ".", "..", an empty name, a "/" or NUL, and stays within 255 bytes', () => {
    fc.assert(
      fc.property(fc.oneof(wellFormed, anyBytesLike, fc.string({ minLength: 200, maxLength: 2000 })), (value) => {
        const encoded = encodeComponent(value);
        expect(encoded).not.toBe('');
        expect(encoded).not.toBe('.');
        expect(encoded).not.toBe('..');
        expect(encoded.startsWith('.')).toBe(false);
        expect(encoded).not.toContain('/');
        expect(encoded).not.toContain('\0');
        expect(Buffer.byteLength(encoded)).toBeLessThanOrEqual(maxComponentBytes);
      }),
      { numRuns: 2000 },
    );
  });

  it('is injective, including across the hashed form', () => {
    fc.assert(
      fc.property(fc.oneof(wellFormed, fc.string({ minLength: 250, maxLength: 600 })), fc.oneof(wellFormed, fc.string({ minLength: 250, maxLength: 600 })), (a, b) => {
        fc.pre(a !== b);
        expect(encodeComponent(a)).not.toBe(encodeComponent(b));
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps a readable prefix and a hash for long values', () => {
    const long = 'x'.repeat(1000);
    const encoded = encodeComponent(long);
    expect(encoded.startsWith('xxxx')).toBe(true);
    expect(isHashedComponent(encoded)).toBe(true);
    expect(encodeComponent(`${long}y`)).not.toBe(encoded);
    expect(() => decodeComponent(encoded)).toThrow(/hashed/);
  });

  it('is readable for ordinary values', () => {
    expect(encodeComponent('nfs.example.com')).toBe('nfs.example.com');
    expect(encodeComponent('/exports/data')).toBe('%2Fexports%2Fdata');
    expect(encodeComponent('nfsvers=4.1,ro')).toBe('nfsvers=4.1,ro');
    expect(encodeComponent('.')).toBe('%2E');
    expect(encodeComponent('..')).toBe('%2E.');
    expect(encodeComponent('')).toBe('%');
    expect(encodeComponent('a b%~')).toBe('a%20b%25%7E');
  });

  it('refuses to decode what it could not have produced', () => {
    for (const bad of ['%2e', '%', '%G1', 'a/b', '.x', '%41', 'a b']) {
      if (bad === '%') continue;
      expect(() => decodeComponent(bad), bad).toThrow();
    }
  });

  it('refuses strings with unpaired surrogates (they would not round-trip through UTF-8)', () => {
    expect(() => encodeComponent('\uD800')).toThrow(/surrogate/);
  });
});
