import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isInside, placeOfPath } from '../../src/identity.js';

// Plain directories (no mounts): a walk that joins a known place's chain gives the very chain
// a full walk up to `/` gives, and so the same answers.
describe('placeOfPath with a known place', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sharemount-identity-walk-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'root', 'inside', 'deeper'), { recursive: true });
  mkdirSync(join(dir, 'pods', 'a', 'b'), { recursive: true });
  const root = placeOfPath(join(dir, 'root'));

  it.each([['pods/a/b'], ['pods'], ['root'], ['root/inside/deeper'], ['.']])('%s: the same chain as the full walk', (path) => {
    const full = placeOfPath(join(dir, path));
    const joined = placeOfPath(join(dir, path), root);
    expect(joined).toEqual(full);
    expect(isInside(joined, root)).toBe(isInside(full, root));
  });

  it('says inside exactly for the root and what lies in it', () => {
    expect(isInside(placeOfPath(join(dir, 'root/inside/deeper'), root), root)).toBe(true);
    expect(isInside(placeOfPath(join(dir, 'root'), root), root)).toBe(true);
    expect(isInside(placeOfPath(join(dir, 'pods/a'), root), root)).toBe(false);
  });
});
