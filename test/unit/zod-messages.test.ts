import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));

/**
 * Runs `code` in a fresh process, where classic zod is never loaded: classic zod installs its
 * English messages when imported, so a test worker that loaded it would hide a missing locale.
 */
async function inFreshProcess(code: string): Promise<string> {
  const { stdout } = await promisify(execFile)(tsx, ['--eval', code], { cwd: repo, timeout: 30_000 });
  return stdout.trim();
}

const badRequest = `
  import { checkPublishRequest } from './src/publish-request.ts';
  try {
    checkPublishRequest({ source: { backend: 'bind', path: '/x' }, target: '/t', readOnly: 'yes', extra: 1 }, new Map(), '/root');
  } catch (error) {
    console.log(error.message);
  }
`;

// Each test starts tsx in a fresh process: seconds on a loaded machine, so the default 5 s is too tight.
describe("the library's zod messages", { timeout: 30_000 }, () => {
  it('are zod English messages in a process that never loads classic zod', async () => {
    const message = await inFreshProcess(badRequest);
    expect(message).toContain('readOnly: Invalid input: expected boolean, received string');
    expect(message).toContain('extra: Unrecognized key: "extra"');
  });

  it("leave a locale that the application configured first as it is", async () => {
    const message = await inFreshProcess(`import { config } from 'zod/mini'; import fr from 'zod/v4/locales/fr.js'; config(fr());\n${badRequest}`);
    expect(message).toContain('extra: Clé non reconnue');
  });
});
