import { describe, expect, it } from 'vitest';
import * as z from '../../src/zod.js';
import { parseRecordText } from '../../src/record-text.js';

describe('parseRecordText', () => {
  const schema = z.object({ key: z.string(), count: z.int() });

  it('gives the record when the text is JSON of that shape', () => {
    expect(parseRecordText(schema, '{"key":"a","count":2}')).toEqual({ key: 'a', count: 2 });
  });

  it.each([[''], ['{"key":"a","cou'], ['not json'], ['{"key":"a"}'], ['{"key":"a","count":1.5}'], ['null'], ['[]']])('gives undefined for %j (cut short, or not such a record)', (text) => {
    expect(parseRecordText(schema, text)).toBeUndefined();
  });
});
