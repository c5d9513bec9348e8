/**
 * Which container a cgroup path belongs to, from the names container runtimes
 * give their cgroups. Pure: no file system, so every naming scheme is tested
 * with real-world paths (test/unit/containers.test.ts).
 *
 * - docker: `/docker/<id>` (cgroupfs driver), `/system.slice/docker-<id>.scope` (systemd driver)
 * - containerd / CRI: `cri-containerd-<id>.scope`; kubepods cgroupfs paths
 *   `/kubepods/burstable/pod<uid>/<id>`; containerd namespaces `/k8s.io/<id>`, `/default/<id>`;
 *   nerdctl `nerdctl-<id>.scope`
 * - cri-o: `crio-<id>.scope` (and `crio-<id>` under cgroupfs); `crio-conmon-<id>` is its
 *   monitor process, not the container
 * - podman: `libpod-<id>.scope`, `/libpod_parent/libpod-<id>`; `libpod-conmon-<id>` is the monitor
 *
 * The innermost match wins: in docker-in-docker or kind (Kubernetes nodes that
 * are themselves containers) the workload is the inner container.
 */

/** Runtime-prefixed component: `docker-<id>.scope`, `crio-<id>`, ... The id must
 *  follow the prefix directly, which leaves out `crio-conmon-<id>` and `libpod-conmon-<id>`. */
const PREFIXED = /^(?:docker|cri-containerd|crio|libpod|nerdctl)-([0-9a-f]{64})(?:\.scope)?$/;
/** A bare 64-hex component: the cgroupfs drivers of docker, kubelet and containerd. */
const BARE = /^([0-9a-f]{64})$/;

export const SHORT_ID_LENGTH = 12;

/** The full (64 hex) id of the container this cgroup path is in, or null. */
export function containerIdOf(cgroupPath: string): string | null {
  const parts = cgroupPath.split('/');
  for (let i = parts.length - 1; i >= 0; i--) {
    const match = PREFIXED.exec(parts[i]) ?? BARE.exec(parts[i]);
    if (match) return match[1];
  }
  return null;
}

/** The id as `docker ps` shows it: its first 12 hex digits. */
export function shortContainerId(id: string): string;
export function shortContainerId(id: string | null): string | null;
export function shortContainerId(id: string | null): string | null {
  return id === null ? null : id.slice(0, SHORT_ID_LENGTH);
}

/** The cgroup path down to (and including) the component that names the container,
 *  so that the container's own sub-cgroups (`crio-<id>.scope/container`) fall below it. */
export function containerCgroupOf(cgroupPath: string): string | null {
  const parts = cgroupPath.split('/');
  for (let i = parts.length - 1; i >= 0; i--) {
    if (PREFIXED.test(parts[i]) || BARE.test(parts[i])) return parts.slice(0, i + 1).join('/');
  }
  return null;
}

/** A pod's cgroup: `pod<uid>` (cgroupfs driver) or `kubepods-<qos>-pod<uid>.slice`
 *  (systemd driver, the UID's dashes as underscores; kind nodes: `kubelet-kubepods-...`). */
const POD = /^(?:[a-z]+-)*pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$/;

/** The UID of the Kubernetes pod this cgroup path is in (as kubectl shows it), or null. */
export function podUidOf(cgroupPath: string): string | null {
  for (const part of cgroupPath.split('/')) {
    const match = POD.exec(part);
    if (match) return match[1].replace(/_/g, '-');
  }
  return null;
}
