/*
 * Options that contradict each other. mount(8) applies a list left to right, so of `suid,nosuid`
 * the later one wins; a canonical (sorted) list would let sort order decide, and each order of
 * a pair would still name a share of its own. Such a list is refused instead, as `ro,rw` is.
 */

/**
 * Flags of which at most one may be set, where the names alone do not show it (`x`/`nox` pairs
 * are found by their names): mount(8)'s `ro`/`rw`, `sync`/`async`, `silent`/`loud`; its
 * access-time modes (`strictatime` clears `noatime` and `relatime`, so any two of them leave one
 * unasked for); nfs(5)'s recovery behaviours and transports.
 */
const exclusiveGroups: readonly (readonly string[])[] = [
  ['ro', 'rw'],
  ['sync', 'async'],
  ['silent', 'loud'],
  ['noatime', 'relatime', 'strictatime'],
  ['hard', 'soft', 'softerr'],
  ['tcp', 'udp', 'rdma'],
];

/**
 * The first two option names in `names` that contradict each other, in a fixed order (so the
 * same set always gives the same error), or undefined when none do. A pair is two members of
 * one exclusive group, or a flag and its `no` form (`suid`/`nosuid`, `exec`/`noexec`,
 * `dev`/`nodev`, `atime`/`noatime`, `diratime`/`nodiratime`, `relatime`/`norelatime`,
 * `lazytime`/`nolazytime`, `iversion`/`noiversion`, `mand`/`nomand`, `auto`/`noauto`,
 * `symfollow`/`nosymfollow`, and any filesystem's own, like nfs(5)'s `ac`/`noac` or
 * `lock`/`nolock`).
 */
export function contradictoryPair(names: ReadonlySet<string>): readonly [string, string] | undefined {
  for (const group of exclusiveGroups) {
    const present = group.filter((name) => names.has(name));
    if (present.length > 1) return [present[0]!, present[1]!];
  }
  for (const name of [...names].sort()) {
    if (names.has(`no${name}`)) return [name, `no${name}`];
  }
  return undefined;
}

