import { mkdir, readdir, rmdir, unlink } from 'node:fs/promises';
import { mkdirSync, renameSync, symlinkSync } from 'node:fs';
import { join, dirname } from 'node:path';
import * as z from './zod.js';
import { encodeComponent } from './escape.js';
import { createRecord, listNames, readLinkText, readRecord, removeRecord, writeRecord } from './record-file.js';
import { parseRecordText } from './record-text.js';

/**
 * The on-disk bookkeeping, the only memory that survives a crash. Under `<root>`:
 *   <share key>/share.json           what the share is (never a secret)
 *   <share key>/mnt/                  the share's mount point
 *   <share key>/refs/<target>.json    one reference per publication
 *   _targets/<target>                 symlink whose text is the share key: target -> share
 * Records are written atomically (temp file + rename; a new target's first reference by an
 * exclusive create, see `createRef`) and without fsync: they must survive the process, not the
 * machine, since a reboot takes every mount with it and reconcile then drops the references.
 * Reads and writes of records are synchronous (record-file.ts says why).
 */
export const shareRecordSchema = z.object({
  version: z.literal(1),
  key: z.string(),
  backend: z.string(),
  source: z.looseObject({ backend: z.string() }),
  options: z.array(z.string()),
  hasSensitiveOptions: z.boolean(),
  createdAt: z.string(),
  /**
   * The share mount's per-mount flags (`nosuid`, `noexec`...) as the kernel showed them, read
   * for its first read-only publication, which is given them again (mount-flags.ts says why).
   */
  mountFlags: z.optional(z.array(z.string())),
});
export type ShareRecord = z.infer<typeof shareRecordSchema>;

export const refRecordSchema = z.object({
  version: z.literal(1),
  target: z.string(),
  subPath: z.string(),
  readOnly: z.boolean(),
  strategy: z.enum(['bind', 'symlink']),
  createdTarget: z.boolean(),
  publishedAt: z.string(),
  /** The caller's label of the publication (PublishRequest.label), when it gave one. */
  label: z.optional(z.string()),
  /**
   * The inode number (decimal, as /proc/self/fdinfo shows it) of the directory published: a
   * bind publication whose directory was renamed since still shows it (see
   * PublishStrategy.showsRenamedDirectory). Absent in records made before it was kept, and on
   * kernels before 5.14.
   */
  directoryInode: z.optional(z.string().check(z.regex(/^\d{1,20}$/))),
  /**
   * Where the publication was made: `<boot id>/<mount namespace inode>` (root-world.ts). A
   * reconcile that cannot see a publication made in another mount namespace of this boot keeps
   * its reference: it may be alive there. Absent in records made before it was kept.
   */
  madeIn: z.optional(z.string().check(z.regex(/^[0-9a-f-]{1,64}\/\d{1,20}$/))),
});
export type RefRecord = z.infer<typeof refRecordSchema>;

const refSuffix = '.json';
// Leaves room for the suffix within one 255-byte name.
const refNameBytes = 255 - refSuffix.length;
const targetsDir = '_targets';
/** Temp names of index symlinks being written: `.tmp-<pid>-<random>` (never an escaped name: those never start with a dot). */
export const tempIndexPrefix = '.tmp-';

export class StateStore {
  constructor(readonly root: string) {}

  shareDir(key: string): string {
    return join(this.root, key);
  }
  mountPoint(key: string): string {
    return join(this.root, key, 'mnt');
  }
  private refsDir(key: string): string {
    return join(this.root, key, 'refs');
  }
  private refFile(key: string, target: string): string {
    return join(this.refsDir(key), encodeComponent(target, refNameBytes) + refSuffix);
  }
  private indexFile(target: string): string {
    return join(this.root, targetsDir, encodeComponent(target));
  }

  async readShare(key: string): Promise<ShareRecord | undefined> {
    const text = readRecord(join(this.shareDir(key), 'share.json'));
    return text === undefined ? undefined : shareRecordSchema.parse(JSON.parse(text));
  }

  /** Adds the share mount's per-mount flags to its record (once the share is mounted). */
  async setShareMountFlags(key: string, mountFlags: readonly string[]): Promise<void> {
    const record = await this.readShare(key);
    if (record) writeRecord(join(this.shareDir(key), 'share.json'), `${JSON.stringify({ ...record, mountFlags }, null, 2)}\n`);
  }

  /** Creates the share's directories and record; safe to repeat. */
  async createShare(record: ShareRecord): Promise<void> {
    const dir = this.shareDir(record.key);
    await mkdirRetrying(join(dir, 'refs'));
    await mkdir(join(dir, 'mnt')).catch(ignore('EEXIST'));
    writeRecord(join(dir, 'share.json'), `${JSON.stringify(record, null, 2)}\n`);
  }

  /**
   * Removes the share's (empty) directories and record, then every parent left empty up to the
   * root. Only rmdir and unlink of our own record: a directory that is not empty stays.
   */
  async removeShare(key: string): Promise<void> {
    const dir = this.shareDir(key);
    // EBUSY: a mount(8) orphaned by a crash landed meanwhile; the next reconcile unmounts it.
    await rmdir(join(dir, 'mnt')).catch(ignore('ENOENT', 'EBUSY'));
    // A process killed inside writeRecord leaves its temp file (`<record>.json.<n>`): our own
    // bookkeeping, never user data, and left alone it would keep the share's directory forever.
    for (const temp of [join(dir, 'refs'), dir]) await removeTempRecords(temp);
    await rmdir(join(dir, 'refs')).catch(ignore('ENOENT'));
    await unlink(join(dir, 'share.json')).catch(ignore('ENOENT'));
    for (let path = dir; path.startsWith(`${this.root}/`); path = dirname(path)) {
      try {
        await rmdir(path);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue;
        if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'EBUSY') return;
        throw error;
      }
    }
  }

  /**
   * The reference, or undefined when there is none or it cannot be parsed. An unparseable one
   * is a first write cut short (see `createRef`): its writer died before publishing anything.
   */
  async readRef(key: string, target: string): Promise<RefRecord | undefined> {
    const text = readRecord(this.refFile(key, target));
    if (text === undefined) return undefined;
    return parseRecordText(refRecordSchema, text);
  }

  /**
   * Writes a new target's first reference straight into its place (an exclusive create, no
   * temp file and rename: one directory change instead of two, on every publish). A crash
   * mid-write leaves a record that does not parse; nothing was published yet, since the
   * publication comes after this write, and `readRef` and reconcile treat it as absent. A
   * record already there is replaced atomically instead.
   */
  async createRef(key: string, ref: RefRecord): Promise<void> {
    try {
      this.inRefsDir(key, () => createRecord(this.refFile(key, ref.target), `${JSON.stringify(ref)}\n`));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      await this.writeRef(key, ref);
    }
  }

  /** Writes a reference atomically (temp file + rename), replacing any there. */
  async writeRef(key: string, ref: RefRecord): Promise<void> {
    this.inRefsDir(key, () => writeRecord(this.refFile(key, ref.target), `${JSON.stringify(ref)}\n`));
  }

  /** Runs a write into the share's refs directory, making the directory when it is missing. */
  private inRefsDir(key: string, write: () => void): void {
    for (let attempt = 0; ; attempt++) {
      try {
        write();
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw error;
        // The refs directory is made with the share, but a record may still find it missing
        // (taken away by hand, or by a removeShare that a crash cut short). Again after ENOENT:
        // a sibling share's removeShare may take away an empty parent between mkdir's steps.
        try {
          mkdirSync(this.refsDir(key), { recursive: true });
        } catch (mkdirError) {
          if ((mkdirError as NodeJS.ErrnoException).code !== 'ENOENT') throw mkdirError;
        }
      }
    }
  }

  async removeRef(key: string, target: string): Promise<void> {
    removeRecord(this.refFile(key, target));
  }

  /**
   * The share's references; a record that cannot be parsed is returned as `undefined` with its
   * file name. One that vanished while listing (a concurrent unpublish) is simply not there.
   */
  async listRefs(key: string): Promise<Array<{ file: string; ref: RefRecord | undefined }>> {
    const listed = this.refNames(key).map((name) => {
      const file = join(this.refsDir(key), name);
      const text = readRecord(file);
      if (text === undefined) return undefined;
      return { file, ref: parseRecordText(refRecordSchema, text) };
    });
    return listed.filter((entry) => entry !== undefined);
  }

  async hasRefs(key: string): Promise<boolean> {
    return this.refNames(key).length > 0;
  }

  private refNames(key: string): string[] {
    return listNames(this.refsDir(key)).filter((name) => name.endsWith(refSuffix));
  }

  /** The key of the share that `target` is published from, if any. */
  async readIndex(target: string): Promise<string | undefined> {
    const key = readLinkText(this.indexFile(target));
    return key !== undefined && isShareKeyShape(key) ? key : undefined;
  }

  /**
   * Makes the target's index entry point at `key` if the target has none: true when it did,
   * false when an entry exists (whatever it says). One symlink() serves as both the check and
   * the write: it is atomic and refuses an existing name.
   */
  async claimIndex(target: string, key: string): Promise<boolean> {
    const file = this.indexFile(target);
    try {
      return symlinkUnlessPresent(key, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      mkdirSync(dirname(file), { recursive: true }); // the first publication under this root
      return symlinkUnlessPresent(key, file);
    }
  }

  /** Points the target's index entry at `key`, replacing any entry atomically. */
  async writeIndex(target: string, key: string): Promise<void> {
    if (await this.claimIndex(target, key)) return;
    const file = this.indexFile(target);
    const temp = `${dirname(file)}/${tempIndexPrefix}${process.pid}-${Math.random().toString(36).slice(2)}`;
    symlinkSync(key, temp);
    renameSync(temp, file);
  }

  async removeIndex(target: string): Promise<void> {
    removeRecord(this.indexFile(target));
  }

  /** Every indexed target with the share key it points to (for reconcile). */
  async listIndex(): Promise<Array<{ name: string; key: string | undefined }>> {
    const dir = join(this.root, targetsDir);
    return listNames(dir).map((name) => {
      let key: string | undefined;
      try {
        key = readLinkText(join(dir, name));
      } catch {
        key = undefined; // not a symlink: garbage for reconcile to drop
      }
      return { name, key: key !== undefined && isShareKeyShape(key) ? key : undefined };
    });
  }


  async removeIndexEntry(name: string): Promise<void> {
    await unlink(join(this.root, targetsDir, name)).catch(ignore('ENOENT'));
  }

  /**
   * Every share directory under the root. The layout is `<backend>/(<label>/<value>)*\/opts/<o>`,
   * so the walk goes by position and never descends into a share (nor into its mount).
   */
  async listShareKeys(): Promise<string[]> {
    const keys: string[] = [];
    const walk = async (relative: string, depth: number): Promise<void> => {
      const entries = await readdir(join(this.root, relative), { withFileTypes: true }).catch(() => []);
      await Promise.all(
        entries.map(async (entry) => {
          if (!entry.isDirectory()) return;
          const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
          if (depth === 0 && !/^[a-z][a-z0-9-]*$/.test(entry.name)) return; // `_targets`, strays
          const isLabel = depth % 2 === 1;
          if (!isLabel && depth > 0 && relative.endsWith('/opts')) keys.push(child);
          else await walk(child, depth + 1);
        }),
      );
    };
    await walk('', 0);
    return keys.sort();
  }
}

/** A share key is a relative path of escaped names: never absolute, never `..`. */
export function isShareKeyShape(key: string): boolean {
  return key !== '' && !key.startsWith('/') && key.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

/** Deletes leftover temp files of writeRecord (`*.json.<digits>`) in `dir`; nothing else. */
async function removeTempRecords(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) if (/\.json\.\d+$/.test(name)) await unlink(join(dir, name)).catch(ignore('ENOENT'));
}

/** Makes the symlink unless the name exists: whether it did. */
function symlinkUnlessPresent(text: string, file: string): boolean {
  try {
    symlinkSync(text, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

function ignore(...codes: string[]) {
  return (error: NodeJS.ErrnoException) => {
    if (!codes.includes(error.code ?? '')) throw error;
  };
}

// A concurrent removeShare of a sibling may delete a parent between mkdir's steps; try again.
async function mkdirRetrying(path: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await mkdir(path, { recursive: true });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw error;
    }
  }
}
