#!/bin/sh
# Installs the driver executable into kubelet's FlexVolume plugin directory, the way kubelet
# needs it: kubelet watches that directory and runs `init` on every file that appears, so the
# file is copied to a dot-file first (kubelet ignores names starting with ".") and then renamed
# into place in one step; kubelet never sees a half-written executable.
#   PLUGIN_DIR     the plugin directory as mounted here (default /flexmnt, the DaemonSet's hostPath)
#   VENDOR_DRIVER  the driver directory name, vendor~driver (required: sharemount~nfs, sharemount~lvm...)
#   $1             the executable to install (default /sharemount/${VENDOR_DRIVER#*~})
set -eu
vendor_driver=${VENDOR_DRIVER:?install: set VENDOR_DRIVER to vendor~driver}
driver=${vendor_driver#*~}
source=${1:-/sharemount/$driver}
plugin_dir=${PLUGIN_DIR:-/flexmnt}
case "$vendor_driver" in *~*) ;; *) echo "install: VENDOR_DRIVER must be vendor~driver" >&2; exit 1 ;; esac
[ -x "$source" ] || { echo "install: $source is not an executable" >&2; exit 1; }

dir=$plugin_dir/$vendor_driver
mkdir -p "$dir"
cp "$source" "$dir/.$driver"
chmod 0755 "$dir/.$driver"
mv -f "$dir/.$driver" "$dir/$driver"
echo "install: $dir/$driver"
