/**
 * zod/mini with zod's English messages: every schema of the library is built from this `z`.
 * zod/mini, unlike classic zod, installs no message locale, and without one every issue the
 * library reports would read "Invalid input" instead of "Unrecognized key: ..." or "Too small...".
 * A locale the application configured itself (`z.config(z.locales.fr())`) is left alone.
 */
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

if (z.config().localeError === undefined) z.config(en());

// One named namespace rather than `export * from 'zod/mini'`, which tsup's CommonJS chunks
// would copy at run time, after a chunk that uses it was evaluated.
export { z };
