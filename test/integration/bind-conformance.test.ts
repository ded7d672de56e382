import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { testBackend } from '../../src/testing/index.js';
import { bindBackend } from '../../src/backends/bind.js';

testBackend('bind', {
  backend: bindBackend({ allowedPaths: ['/'] }),
  async makeSource(sandbox) {
    const path = join(sandbox.dir, 'host-dir');
    await mkdir(path);
    return { source: { backend: 'bind', path } };
  },
  equivalentOptions: [['nosuid', 'nodev'], ['nodev', 'nosuid', 'nodev']],
  unmountableSource: { backend: 'bind', path: '/nonexistent/sharemount-conformance' },
});
