import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileLogger } from '../../src/flexvolume/log-file.js';

const lines = async (file: string) => (await readFile(file, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);

describe('FlexVolume log file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sharemount-log-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes JSON lines with the base fields, the time and the message, making the directory', async () => {
    const file = join(dir, 'nested', 'driver.log');
    const logger = createFileLogger({ file, level: 'info', base: { driver: 'example/nfs', call: 'mount', pid: 42 } });
    logger.info({ target: '/pods/a' }, 'published');
    await logger.flush();
    expect(await lines(file)).toEqual([
      { level: 30, time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), driver: 'example/nfs', call: 'mount', pid: 42, target: '/pods/a', msg: 'published' },
    ]);
  });

  it('keeps lines below its level out, and secrets out of every line', async () => {
    const file = join(dir, 'driver.log');
    const logger = createFileLogger({ file, level: 'info', base: { call: 'mount' } });
    logger.debug({ detail: 1 }, 'not written');
    logger.warn({ secrets: { token: 'hunter2' }, options: { password: 'hunter2', server: 'nfs1' }, sensitiveOptions: ['pw=hunter2'] }, 'written');
    await logger.flush();
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain('hunter2');
    expect(await lines(file)).toEqual([expect.objectContaining({ level: 40, msg: 'written', secrets: '[Redacted]', sensitiveOptions: '[Redacted]', options: { password: '[Redacted]', server: 'nfs1' } })]);
  });

  it('sends each logger’s lines to its own file, though the process has one pino', async () => {
    const [a, b] = [join(dir, 'a.log'), join(dir, 'b.log')];
    const first = createFileLogger({ file: a, level: 'debug', base: { call: 'mount' } });
    const second = createFileLogger({ file: b, level: 'debug', base: { call: 'unmount' } });
    first.info({}, 'one');
    second.info({}, 'two');
    first.error({}, 'three');
    await Promise.all([first.flush(), second.flush()]);
    expect((await lines(a)).map((line) => [line.call, line.msg])).toEqual([['mount', 'one'], ['mount', 'three']]);
    expect((await lines(b)).map((line) => [line.call, line.msg])).toEqual([['unmount', 'two']]);
  });

  it('logs nothing, and fails nothing, when no file is configured or the file cannot be opened', async () => {
    const none = createFileLogger({ file: undefined, level: 'debug', base: {} });
    none.error({}, 'dropped');
    await expect(none.flush()).resolves.toBeUndefined();
    await writeFile(join(dir, 'a-file'), '');
    const blocked = createFileLogger({ file: join(dir, 'a-file', 'driver.log'), level: 'debug', base: {} }); // ENOTDIR
    blocked.error({}, 'dropped');
    await expect(blocked.flush()).resolves.toBeUndefined();
  });
});
