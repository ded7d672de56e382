/**
 * What `init` declares. kubelet's defaults when a field is omitted are attach true,
 * selinuxRelabel true, supportsMetrics false, fsGroup true, requiresFSResize true: wrong for a
 * shared mount, so the shim always sends every field.
 */
export interface Capabilities {
  /** true: kubelet runs the attach/mountdevice flow; false: only `mount` and `unmount`. */
  attach: boolean;
  /** true: the container runtime relabels the volume per pod (SELinux). */
  selinuxRelabel: boolean;
  /** true: kubelet reports volume metrics with statfs on the pod dir. */
  supportsMetrics: boolean;
  /** true: kubelet itself applies the pod's fsGroup after `mount`. */
  fsGroup: boolean;
  /** true: kubelet calls `expandfs` after `expandvolume`. */
  requiresFSResize: boolean;
}

/**
 * The shim's defaults for a shared-mount driver:
 * - `attach: false`: a share is mounted on the node by `mount`; there is no device to attach.
 * - `selinuxRelabel: false`: a share is used by many pods at once; a per-pod relabel by the
 *   runtime would take the files away from every other pod (and NFS rarely stores labels).
 * - `fsGroup: false`: the shim applies fsGroup itself, to the real directory behind the
 *   publication (kubelet's walk would stop at a symlink and would repeat ours on a bind).
 * - `supportsMetrics: false`: kubelet would statfs the share from its own goroutines, and a
 *   hung NFS server would leave them stuck in the kernel; a driver may turn it on.
 * - `requiresFSResize: false`: the shim implements no `expandfs` unless the driver does.
 */
export const sharedMountCapabilities: Capabilities = Object.freeze({
  attach: false,
  selinuxRelabel: false,
  supportsMetrics: false,
  fsGroup: false,
  requiresFSResize: false,
});

/** The driver's declaration merged over the shared-mount defaults. */
export function resolveCapabilities(declared: Partial<Capabilities> = {}): Capabilities {
  return { ...sharedMountCapabilities, ...declared };
}
