import { createHmac } from 'node:crypto';
import { encodeComponent } from './escape.js';
import { SharemountError } from './errors.js';
import type { AnyBackend, Source } from './backend.js';
import type { OptionList } from './options.js';

/**
 * A ShareKey is the share's path relative to the root, and so its identity:
 * `<backend>/<label>/<escaped value>/.../opts/<escaped options>`. Options are the canonical set
 * joined by commas; when there are secret options, `|secret-<hmac>` follows, where the HMAC is
 * keyed by the root's private key: equal secrets share a share, different ones never do, and
 * neither the secret nor a plain hash of it (guessable for short secrets) reaches the path.
 */
export type ShareKey = string;

const labelPattern = /^[a-z][a-z0-9-]*$/;

export function shareKeyOf(
  backend: AnyBackend,
  source: Source,
  options: OptionList,
  sensitiveOptions: OptionList,
  secretKey: Buffer,
): ShareKey {
  const parts: string[] = [backend.name];
  for (const [label, value] of backend.layout(source)) {
    if (!labelPattern.test(label) || label === 'opts') {
      throw new SharemountError('INTERNAL', `backend ${backend.name} returned an invalid layout label`);
    }
    parts.push(label, encodeComponent(value));
  }
  let optionText = options.join(',');
  if (sensitiveOptions.length > 0) {
    optionText += `|secret-${createHmac('sha256', secretKey).update(sensitiveOptions.join(',')).digest('hex').slice(0, 32)}`;
  }
  parts.push('opts', encodeComponent(optionText));
  return parts.join('/');
}
