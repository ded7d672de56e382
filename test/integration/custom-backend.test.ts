import { describe, expect, it } from 'vitest';
import { testBackend } from '../../src/testing/index.js';
import { tmpfsBackend } from '../../examples/custom-backend/tmpfs-backend.js';

// The worked example of docs/backends/writing-a-backend.md passes the shared suite.
testBackend('tmpfs (the custom-backend example)', {
  backend: tmpfsBackend(),
  makeSource: async () => ({ source: { backend: 'tmpfs', name: 'conformance' } }),
  equivalentOptions: [['size=16m', 'nosuid'], ['nosuid', 'size=16m', 'nosuid']],
});

describe('tmpfs example backend', () => {
  it('turns driver parameters into a volume', () => {
    const backend = tmpfsBackend();
    const volume = backend.toVolume(backend.parameters.parse({ name: 'scratch', size: '64m', subPath: 'a' }));
    expect(volume).toMatchObject({ source: { backend: 'tmpfs', name: 'scratch' }, options: ['size=64m'], subPath: 'a' });
    expect(backend.parameters.safeParse({ name: 'Bad Name' }).success).toBe(false);
  });
});
