#!/bin/bash
# A stand-in for /usr/sbin/mount.nfs (this kernel has no NFS client), bind-mounted over it
# inside a test's private mount namespace by mount-nfs-seam.ts, which fills in STATE_DIR.
# mount(8) runs it exactly as it runs the real one: `mount.nfs server:/path target -o opts`.
# It records its argv, asks the real NFS server (nfs-ganesha, through libnfs) whether it serves
# that path, and then mounts the server's local export directory at the target: a bind mount,
# or in fuse mode a bindfs process that the test can freeze or kill to act out a hung or a
# dead server as a client sees it. It fails as mount.nfs does: a message and exit status 32.
set -u
STATE_DIR='@STATE_DIR@'
MODE="$(cat "$STATE_DIR/mode")"

{
  printf '%s' "${0##*/}"
  printf '\t%s' "$@"
  printf '\n'
} >>"$STATE_DIR/argv.log"

fail() {
  echo "mount.nfs: $*" >&2
  exit 32
}

[ $# -ge 2 ] || fail "usage: mount.nfs remotetarget dir [-o options]"
device=$1
target=$2
shift 2
options=''
while [ $# -gt 0 ]; do
  case $1 in
    -o) options=$2; shift 2 ;;
    *) shift ;;
  esac
done

case $device in
  \[*\]:/*) server=${device%%]:*}]; path=${device#*]:} ;;
  *:/*) server=${device%%:*}; path=${device#*:} ;;
  *) fail "remote share not in 'host:dir' format" ;;
esac

port=''
version=4
readonly_mount=no
IFS=',' read -r -a items <<<"$options"
for item in "${items[@]}"; do
  case $item in
    port=*) port=${item#port=} ;;
    vers=* | nfsvers=*) version=${item#*=} ;;
    ro) readonly_mount=yes ;;
  esac
done
case $version in
  3) protocol=3 ;;
  4 | 4.*) protocol=4 ;;
  *) fail "Protocol not supported" ;;
esac

# No port= option: real mount.nfs would ask the server's rpcbind or use 2049. The test servers
# listen on free ports, so the seam routes the mount to the server that exports this path.
if [ -z "$port" ]; then
  while IFS=$'\t' read -r map_port pseudo dir; do
    if [ "$path" = "$pseudo" ] || [[ $path == "$pseudo"/* ]]; then port=$map_port; break; fi
  done <"$STATE_DIR/exports"
  [ -n "$port" ] || port=2049
fi

# Ask the server itself: a mount of a path it does not serve must fail here as it would for real.
if ! nfs_ls_error=$(timeout 20 nfs-ls "nfs://$server$path?version=$protocol&nfsport=$port" 2>&1 >/dev/null); then
  case $nfs_ls_error in
    *NOENT* | *"No such file"*) fail "mounting $device failed, reason given by server: No such file or directory" ;;
    *) fail "Connection refused (nfs-ls: ${nfs_ls_error//$'\n'/ })" ;;
  esac
fi

# mount(8) was killed by its timeout while we waited for the server: a real mount.nfs would go
# on and mount late; this one does not, so a test never leaves a mount behind after a timeout.
kill -0 "$PPID" 2>/dev/null || fail "parent mount(8) is gone"

# The server's local directory for this path: the exports file maps port and pseudo path.
local_dir=''
while IFS=$'\t' read -r map_port pseudo dir; do
  [ "$map_port" = "$port" ] || continue
  if [ "$path" = "$pseudo" ]; then local_dir=$dir; break; fi
  case $path in "$pseudo"/*) local_dir=$dir${path#"$pseudo"}; break ;; esac
done <"$STATE_DIR/exports"
[ -n "$local_dir" ] || fail "the seam knows no local directory for port $port path $path"

if [ "$MODE" = fuse ]; then
  fuse_options=''
  [ $readonly_mount = yes ] && fuse_options='-o ro'
  # setsid: the daemon outlives this helper and must not hold mount(8)'s pipes open. No "--":
  # bindfs appends its own options after the paths and "--" would turn them into paths.
  # The daemon must not inherit descriptors above 2 either: the library passes its lock sockets
  # to mount(8), and a daemon holding them would hold the share's lock for as long as it lives.
  (
    for fd in /proc/self/fd/*; do
      n=${fd##*/}
      [ "$n" -gt 2 ] 2>/dev/null && eval "exec $n>&-"
    done
    exec setsid bindfs -f $fuse_options "$local_dir" "$target" </dev/null >/dev/null 2>>"$STATE_DIR/bindfs.log"
  ) &
  printf '%s\t%s\n' "$!" "$target" >>"$STATE_DIR/fuse.pids"
  for _ in $(seq 250); do
    awk -v t="$target" '$5 == t && / - fuse/ { found = 1 } END { exit !found }' /proc/self/mountinfo && exit 0
    sleep 0.02
  done
  fail "bindfs did not mount $target"
fi

mount --bind -- "$local_dir" "$target" || fail "bind mount failed"
if [ $readonly_mount = yes ]; then
  mount -o remount,bind,ro -- "$target" || { umount -- "$target"; fail "read-only remount failed"; }
fi
exit 0
