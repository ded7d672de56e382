import type { Logger } from '../logger.js';
import type { MountInfoEntry } from '../mountinfo.js';
import type { OpenedSubPath } from '../subpath.js';

/** How a publication is made and unmade: a bind mount (default) or a symlink (opt-in). */
export interface PublishStrategy {
  /**
   * Makes the publication at `target` (prepared by the caller). `shareFlags`: the share
   * mount's per-mount flags, which a read-only bind publication must be given again.
   */
  publish(context: { directory: OpenedSubPath; sharePath: string; target: string; readOnly: boolean; shareFlags: readonly string[]; timeoutMs: number }): Promise<void>;
  /** Unmakes it; a target that shows no publication is already done. Never deletes data. */
  unpublish(context: { target: string; sharePath: string; subPath: string; removeTarget: boolean; timeoutMs: number; logger: Logger }): Promise<void>;
  /**
   * A quick check that `target` shows this publication (for idempotent repeats), not just
   * anything. `directoryInode`: the published directory's, from its reference when recorded.
   */
  looksPublished(context: { target: string; sharePath: string; subPath: string; directoryInode?: string | undefined }): Promise<boolean>;
  /**
   * The kernel's verdict for reconcile: does `target` show exactly this sub-path of the share
   * whose mount is `shareMount` (undefined when the share is not mounted)?
   */
  isPublished(context: { target: string; sharePath: string; subPath: string; shareMount: MountInfoEntry | undefined; mounts: ReadonlyMap<string, MountInfoEntry> }): Promise<boolean>;
  /**
   * For a publication `isPublished` does not find: does `target` still show the very directory
   * published (`directoryInode`, from its reference) under another name? Looks into the share
   * (callers bound it, and guard a hung share).
   */
  showsRenamedDirectory?(context: { target: string; sharePath: string; directoryInode: string; shareMount: MountInfoEntry; mounts: ReadonlyMap<string, MountInfoEntry> }): Promise<boolean>;
}
