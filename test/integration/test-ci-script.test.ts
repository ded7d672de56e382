/**
 * `npm run test:ci` (scripts/test-ci.sh) as a user without root on CI: it must fail, never pass
 * with the integration tests skipped. CI services set CI to `true`, `1` or their own name.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, skipUnlessReady, type Sandbox } from '../helpers/sandbox.js';

const skip = skipUnlessReady(); // root, to run the script as another user

describe.skipIf(skip)('test:ci without root on CI', () => {
  let sandbox: Sandbox;
  let script: string;

  beforeAll(async () => {
    sandbox = await createSandbox('sharemount-test-ci-');
    // A copy another user can read; the script refuses before it looks at anything else.
    await mkdir(join(sandbox.dir, 'scripts'));
    script = join(sandbox.dir, 'scripts', 'test-ci.sh');
    await copyFile('scripts/test-ci.sh', script);
    await execa('chmod', ['-R', 'a+rX', sandbox.dir]);
  });

  afterAll(async () => {
    await sandbox?.cleanup();
  });

  for (const value of ['true', '1', 'yes']) {
    it(`fails at once with CI=${value}, saying it needs root`, async () => {
      const result = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', script], {
        env: { CI: value, PATH: process.env.PATH },
        extendEnv: false,
        reject: false,
        cwd: sandbox.dir,
      });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(`test-ci: CI=${value} is set and the integration tests need root`);
      expect(result.stdout).toBe('');
    });
  }
});
