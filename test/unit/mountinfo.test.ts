import { describe, expect, it } from 'vitest';
import { entriesOfFilesystemAt, parseMountInfo } from '../../src/mountinfo.js';

// Lines as the kernel writes them: id, parent, major:minor, root, mount point, options, optional
// fields, "-", fs type, source, super options.
const table = [
  '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
  '30 22 0:52 / /var/lib/sharemount/nfs/server/srv/opts/hard/mnt rw,relatime - nfs4 srv:/export rw',
  '31 22 0:52 /vol /var/lib/kubelet/pods/a/volumes/x rw,relatime - nfs4 srv:/export rw',
  '32 22 254:0 /srv/data /var/lib/sharemount/bind/path/%2Fsrv%2Fdata/opts/mnt rw - ext4 /dev/vda rw',
  '33 22 0:52 /vol/b /var/lib/kubelet/pods/b/volumes/with\\040space ro,relatime - nfs4 srv:/export rw',
  '34 22 0:77 / /var/lib/kubelet/pods/c/volumes/tmp rw - tmpfs tmpfs rw',
].join('\n');

describe('entriesOfFilesystemAt', () => {
  it("returns the lines of the filesystem mounted at the path: the mount and its filesystem's other mounts", () => {
    const entries = entriesOfFilesystemAt(table, '/var/lib/sharemount/nfs/server/srv/opts/hard/mnt');
    expect(entries.map((e) => e.id)).toEqual([30, 31, 33]);
    expect(entries[2]!.mountPoint).toBe('/var/lib/kubelet/pods/b/volumes/with space');
    expect(entries).toEqual(parseMountInfo(table).filter((e) => e.device === '0:52'));
  });

  it('finds a mount point written with escapes, and nothing where nothing is mounted', () => {
    expect(entriesOfFilesystemAt(table, '/var/lib/kubelet/pods/b/volumes/with space').map((e) => e.id)).toEqual([30, 31, 33]);
    expect(entriesOfFilesystemAt(table, '/var/lib/sharemount/other/mnt')).toEqual([]);
    // A path that only appears as another mount's root is not a mount point.
    expect(entriesOfFilesystemAt(table, '/srv/data')).toEqual([]);
  });

  it('reads back a path that has both an escaped character and a non-ASCII one', () => {
    const line = '35 22 0:52 /vol/données\\0401 /var/lib/kubelet/pods/d/volumes/vol\\040é\\011x\\134y ro - nfs4 srv:/export rw';
    const [entry] = parseMountInfo(line);
    expect(entry!.root).toBe('/vol/données 1');
    expect(entry!.mountPoint).toBe('/var/lib/kubelet/pods/d/volumes/vol é\tx\\y');
    expect(entriesOfFilesystemAt(`${table}\n${line}`, '/var/lib/kubelet/pods/d/volumes/vol é\tx\\y').map((e) => e.id)).toEqual([30, 31, 33, 35]);
  });

  it('takes the filesystem of the mount on top when several are stacked on one path', () => {
    const stacked = `${table}\n40 32 0:90 / /var/lib/sharemount/bind/path/%2Fsrv%2Fdata/opts/mnt rw - tmpfs tmpfs rw`;
    expect(entriesOfFilesystemAt(stacked, '/var/lib/sharemount/bind/path/%2Fsrv%2Fdata/opts/mnt').map((e) => e.id)).toEqual([40]);
  });
});
