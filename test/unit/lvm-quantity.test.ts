import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseQuantity } from '../../src/backends/lvm/quantity.js';

describe('parseQuantity (Kubernetes quantities as bytes)', () => {
  it.each([
    ['1', 1],
    ['1073741824', 1073741824],
    ['1Ki', 1024],
    ['1Mi', 1024 ** 2],
    ['1Gi', 1024 ** 3],
    ['2Ti', 2 * 1024 ** 4],
    ['1Pi', 1024 ** 5],
    ['500M', 500_000_000],
    ['1.5G', 1_500_000_000],
    ['1.5Gi', 1610612736],
    ['1k', 1000],
    ['1P', 10 ** 15],
    ['2e9', 2_000_000_000],
    ['1E3', 1000],
    ['15e-1', 2], // 1.5 bytes rounds up, as Quantity.Value() does
    ['0.5Ki', 512],
    ['.5Ki', 512],
    ['5.', 5],
    ['+7', 7],
    [' 1Gi ', 1024 ** 3],
    ['1.1Gi', 1181116007], // 1181116006.4 rounded up, exactly
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseQuantity(text, 'size')).toBe(bytes);
  });

  it.each([
    ['', 'is empty'],
    ['-1Gi', 'must be positive'],
    ['0', 'at least one byte'],
    ['0.0Gi', 'at least one byte'],
    ['1GB', 'is not a quantity'],
    ['1 Gi', 'is not a quantity'],
    ['1gi', 'is not a quantity'],
    ['Gi', 'is not a quantity'],
    ['.', 'is not a quantity'],
    ['1e', 'is not a quantity'],
    ['0x10', 'is not a quantity'],
    ['1Gi;rm -rf /', 'is not a quantity'],
    ['500m', 'did you mean "M"'],
    ['1u', 'fraction of a byte'],
    ['1e31', 'exponent'],
    ['9Ei', 'too large'],
    ['1E', 'too large'],
    ['1'.repeat(65), 'longer than 64'],
  ])('refuses %j naming the field (%s)', (text, problem) => {
    expect(() => parseQuantity(text, 'parameters.size')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'parameters.size', message: expect.stringContaining(problem) }));
  });

  it('agrees with plain arithmetic for every whole number of binary units', () => {
    const units = { Ki: 1, Mi: 2, Gi: 3, Ti: 4 } as const;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4096 }), fc.constantFrom(...(Object.keys(units) as Array<keyof typeof units>)), (n, unit) => {
        expect(parseQuantity(`${n}${unit}`, 'size')).toBe(n * 1024 ** units[unit]);
      }),
    );
  });

  it('rounds fractions up, never down', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 ** 9 }), fc.integer({ min: 1, max: 999 }), (whole, thousandths) => {
        const exact = whole + thousandths / 1000;
        const bytes = parseQuantity(`${whole}.${String(thousandths).padStart(3, '0')}`, 'size');
        expect(bytes).toBe(Math.ceil(exact - 1e-9));
        expect(bytes).toBeGreaterThan(whole);
      }),
    );
  });
});
