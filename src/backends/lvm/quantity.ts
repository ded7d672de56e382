import { invalidArgument } from '../../errors.js';

/**
 * Kubernetes resource quantities as byte counts: `1Gi`, `500M`, `1.5G`, `2e9`, `1073741824`.
 * The grammar is Kubernetes' (apimachinery resource.Quantity): a decimal number with an
 * optional binary suffix (Ki Mi Gi Ti Pi Ei), decimal suffix (k M G T P E) or exponent (e3, E-2).
 * Fractional byte counts round up, as Quantity.Value() does. Sub-unit suffixes (`m`, `u`, `n`)
 * are refused: `500m` is half a byte to Kubernetes and almost certainly meant `500M`.
 * Arithmetic is exact (BigInt), so `1.1Gi` is 1181116006.4 bytes rounded up, not a float guess.
 */
const quantityPattern = /^\+?(\d+)?(?:\.(\d*))?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|[eE][+-]?\d+|m|u|n)?$/;
const maxInputLength = 64;
const maxExponent = 30;

const binarySuffixes: Record<string, bigint> = { Ki: 1n, Mi: 2n, Gi: 3n, Ti: 4n, Pi: 5n, Ei: 6n };
const decimalSuffixes: Record<string, bigint> = { k: 3n, M: 6n, G: 9n, T: 12n, P: 15n, E: 18n };

/**
 * Parses `input` into a whole positive number of bytes; throws INVALID_ARGUMENT naming `field`.
 * The result is at most Number.MAX_SAFE_INTEGER (8 PiB), far beyond any volume group.
 */
export function parseQuantity(input: string, field: string): number {
  if (typeof input !== 'string') throw invalidArgument(field, 'must be a string such as "1Gi" or "500M"');
  const text = input.trim();
  if (text.length === 0) throw invalidArgument(field, 'is empty');
  if (text.length > maxInputLength) throw invalidArgument(field, `is longer than ${maxInputLength} characters`);
  if (text.startsWith('-')) throw invalidArgument(field, 'must be positive');
  const match = quantityPattern.exec(text);
  const whole = match?.[1] ?? '';
  const fraction = match?.[2] ?? '';
  if (!match || whole + fraction === '') {
    throw invalidArgument(field, 'is not a quantity: use bytes or a number with a suffix Ki Mi Gi Ti Pi Ei or k M G T P E (e.g. "1Gi", "500M")');
  }
  const suffix = match[3] ?? '';
  if (suffix === 'm' || suffix === 'u' || suffix === 'n') {
    throw invalidArgument(field, `suffix "${suffix}" means a fraction of a byte; did you mean "${suffix.toUpperCase()}"?`);
  }
  let numerator = BigInt(whole + fraction);
  let denominator = 10n ** BigInt(fraction.length);
  if (suffix in binarySuffixes) numerator *= 1024n ** binarySuffixes[suffix]!;
  else if (suffix in decimalSuffixes) numerator *= 10n ** decimalSuffixes[suffix]!;
  else if (suffix !== '') {
    const exponent = Number(suffix.slice(1));
    if (Math.abs(exponent) > maxExponent) throw invalidArgument(field, `exponent must be between -${maxExponent} and ${maxExponent}`);
    if (exponent >= 0) numerator *= 10n ** BigInt(exponent);
    else denominator *= 10n ** BigInt(-exponent);
  }
  const bytes = (numerator + denominator - 1n) / denominator; // round up, as Kubernetes does
  if (bytes <= 0n) throw invalidArgument(field, 'must be at least one byte');
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidArgument(field, 'is too large');
  return Number(bytes);
}
