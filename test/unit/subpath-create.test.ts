import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openInsideShare } from '../../src/subpath.js';
import { tempDirs } from '../helpers/temp-dirs.js';

const tempDir = tempDirs('sharemount-subpath-');

describe('createIfNecessary', () => {
  it('gives exactly createMode to what it creates, and leaves a directory someone else made meanwhile as it is', async () => {
    const share = tempDir();
    let raced = false;
    // Someone (a pod writing in the share) makes the first name between our look and our mkdir.
    const beforeCreate = async () => {
      if (!raced) mkdirSync(join(share, 'theirs'), 0o700);
      raced = true;
    };
    const opened = await openInsideShare(share, 'theirs/ours', { create: true, mode: 0o2775, beforeCreate });
    await opened.close();
    expect(statSync(join(share, 'theirs')).mode & 0o7777).toBe(0o700);
    expect(statSync(join(share, 'theirs', 'ours')).mode & 0o7777).toBe(0o2775);
  });
});
