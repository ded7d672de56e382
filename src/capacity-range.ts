import { SharemountError, invalidArgument } from './errors.js';

/** The sizes a CreateVolume accepts (CSI's capacity_range): a volume of that name fits when it has at least `capacityBytes` and at most `capacityLimitBytes`. */
export interface CapacityRange {
  capacityBytes?: number;
  capacityLimitBytes?: number;
}

/**
 * Throws ALREADY_EXISTS unless an existing volume (`what`: "volume pvc-1") of `haveBytes` fits
 * the range. CSI asks a repeated CreateVolume to succeed whenever the volume it finds is
 * compatible with the request, not only when the sizes are equal: a volume since grown still
 * answers its own retry.
 */
export function checkCapacityFits(what: string, haveBytes: number, range: CapacityRange): void {
  const { capacityBytes: least, capacityLimitBytes: most } = range;
  if (least !== undefined && haveBytes < least) {
    throw new SharemountError('ALREADY_EXISTS', `${what} exists with ${haveBytes} bytes, less than the ${least} asked for`, { field: 'name' });
  }
  if (most !== undefined && haveBytes > most) {
    throw new SharemountError('ALREADY_EXISTS', `${what} exists with ${haveBytes} bytes, more than the limit of ${most}`, { field: 'name' });
  }
}

/**
 * Throws INVALID_ARGUMENT naming the field unless the range is whole bytes, not negative, and
 * the size asked is within the limit.
 */
export function checkCapacityRange(range: CapacityRange): void {
  for (const field of ['capacityBytes', 'capacityLimitBytes'] as const) {
    const bytes = range[field];
    if (bytes !== undefined && (!Number.isSafeInteger(bytes) || bytes < 0)) throw invalidArgument(field, `must be a whole number of bytes, not ${String(bytes)}`);
  }
  const { capacityBytes: least, capacityLimitBytes: most } = range;
  if (least !== undefined && most !== undefined && least > most) throw invalidArgument('capacityBytes', `(${least}) is more than capacityLimitBytes (${most})`);
}

/** The size to record for a new volume that has no size of its own (a directory): what was asked, else the limit, else 0. */
export function recordedSize(range: CapacityRange): number {
  checkCapacityRange(range);
  return range.capacityBytes ?? range.capacityLimitBytes ?? 0;
}
