/**
 * A complete custom backend in one small file: a named tmpfs, `{ backend: 'tmpfs', name }`.
 * Every consumer of the same name (and size) shares one tmpfs mount. The worked example of
 * docs/backends/writing-a-backend.md; test/integration/custom-backend.test.ts runs the shared
 * conformance suite on it.
 */
import { z } from 'zod';
import { invalidArgument, mount, optionName, type Backend, type OptionList } from '../../src/index.js';

export interface TmpfsSource {
  backend: 'tmpfs';
  /** Which tmpfs: consumers naming the same one share it. */
  name: string;
}

const sourceSchema = z.strictObject({
  backend: z.literal('tmpfs'),
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a lowercase name like "scratch-1"'),
});

const parametersSchema = z.strictObject({
  name: sourceSchema.shape.name,
  size: z.string().regex(/^[0-9]+[kmg]?$/, 'must be a size like "64m"').optional(),
  subPath: z.string().optional(),
});

export function tmpfsBackend() {
  return {
    name: 'tmpfs',
    sourceSchema,
    layout: (source: TmpfsSource) => [['name', source.name]] as const,
    checkOptions(options: OptionList, field: string) {
      options.forEach((option, index) => {
        if (!/^(size=[0-9]+[kmg]?|mode=[0-7]{3,4}|nr_inodes=[0-9]+|noexec|nosuid|nodev|ro|rw)$/.test(option)) {
          // The option's name only: its value could be a secret someone forgot to mark.
          throw invalidArgument(`${field}[${index}]`, `"${optionName(option)}" is not a tmpfs option this backend allows`);
        }
      });
    },
    async mount({ source, options, mountPoint, timeoutMs }) {
      // The device name shows in mountinfo, so it names the share.
      await mount({ fsType: 'tmpfs', source: `sharemount-${source.name}`, target: mountPoint, options }, timeoutMs);
    },
    parameters: parametersSchema,
    toVolume: (parameters: z.infer<typeof parametersSchema>) => ({
      source: { backend: 'tmpfs' as const, name: parameters.name },
      options: parameters.size === undefined ? [] : [`size=${parameters.size}`],
      subPath: parameters.subPath,
      createIfNecessary: true,
    }),
  } satisfies Backend<TmpfsSource, z.infer<typeof parametersSchema>>;
}
