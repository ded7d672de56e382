/**
 * zod/mini with zod's English messages: every schema of the library is built from this module
 * (`import * as z from './zod.js'`). zod/mini, unlike classic zod, installs no message locale,
 * and without one every issue the library reports would read "Invalid input" instead of
 * "Unrecognized key: ..." or "Too small...". A locale the application configured itself
 * (`z.config(z.locales.fr())`) is left alone.
 *
 * What the library uses is re-exported by name. Exporting the namespace as one value made a
 * bundler keep all of zod/mini (a driver's bundle 440 KB instead of 301), and `export *` broke
 * tsup's CommonJS chunks, which copy it at run time, after a chunk had used it; named
 * re-exports are read through getters.
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

if (config().localeError === undefined) config(en());

export {
  _default,
  array,
  boolean,
  coerce,
  config,
  custom,
  enum,
  int,
  literal,
  looseObject,
  maxLength,
  maximum,
  minLength,
  minimum,
  NEVER,
  nullable,
  number,
  object,
  optional,
  partial,
  pick,
  pipe,
  record,
  refine,
  regex,
  startsWith,
  strictObject,
  string,
  superRefine,
  transform,
  union,
  unknown,
} from 'zod/mini';
export type { core, infer, input, output, ZodMiniType } from 'zod/mini';
