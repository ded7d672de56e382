import type * as z from './zod.js';

/**
 * A record's text, parsed as JSON and checked by `schema`; undefined when it is not JSON or not
 * such a record (a write cut short by a crash, or a file that is not ours). What that means is
 * the caller's to say, and no caller quotes the text: the file may not be ours.
 */
export function parseRecordText<T>(schema: z.ZodMiniType<T>, text: string): T | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}
