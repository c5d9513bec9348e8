import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerCgroupOf, containerIdOf, podUidOf, shortContainerId } from '../../src/host/containers';

// Ids as runtimes print them: 64 lowercase hex.
const A = '8d1f1c7e2b3a4f5e6d7c8b9a0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6';
const B = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

test('docker: cgroupfs and systemd drivers', () => {
  assert.equal(containerIdOf(`/docker/${A}`), A);
  assert.equal(containerIdOf(`/system.slice/docker-${A}.scope`), A);
  // A container running systemd (or with its own sub-cgroups) still names its container.
  assert.equal(containerIdOf(`/system.slice/docker-${A}.scope/init.scope`), A);
  assert.equal(containerIdOf(`/docker/${A}/app`), A);
});

test('containerd and Kubernetes (CRI): systemd and cgroupfs layouts, containerd namespaces, nerdctl', () => {
  assert.equal(containerIdOf(
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5f1d2a3b_4c5d_6e7f_8a9b_0c1d2e3f4a5b.slice/cri-containerd-${A}.scope`), A);
  assert.equal(containerIdOf(`/kubepods.slice/kubepods-pod5f1d2a3b_4c5d.slice/cri-containerd-${A}.scope`), A);
  assert.equal(containerIdOf(`/kubepods/besteffort/pod5f1d2a3b-4c5d-6e7f-8a9b-0c1d2e3f4a5b/${A}`), A);
  assert.equal(containerIdOf(`/kubepods/pod5f1d2a3b-4c5d-6e7f-8a9b-0c1d2e3f4a5b/${A}`), A);
  assert.equal(containerIdOf(`/k8s.io/${A}`), A);
  assert.equal(containerIdOf(`/default/${A}`), A);
  assert.equal(containerIdOf(`/system.slice/nerdctl-${A}.scope`), A);
  // The pod's own slice is not a container.
  assert.equal(containerIdOf('/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5f1d2a3b_4c5d.slice'), null);
});

test('cri-o: the container, not its conmon monitor', () => {
  assert.equal(containerIdOf(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/crio-${A}.scope`), A);
  assert.equal(containerIdOf(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/crio-${A}.scope/container`), A);
  assert.equal(containerIdOf(`/kubepods/besteffort/pod1/crio-${A}`), A);
  assert.equal(containerIdOf(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/crio-conmon-${A}.scope`), null);
  assert.equal(containerIdOf(`/kubepods/besteffort/pod1/crio-conmon-${A}`), null);
});

test('podman: rootful, rootless and cgroupfs; not its conmon', () => {
  assert.equal(containerIdOf(`/machine.slice/libpod-${A}.scope`), A);
  assert.equal(containerIdOf(`/machine.slice/libpod-${A}.scope/container`), A);
  assert.equal(containerIdOf(`/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${A}.scope`), A);
  assert.equal(containerIdOf(`/libpod_parent/libpod-${A}`), A);
  assert.equal(containerIdOf(`/machine.slice/libpod-conmon-${A}.scope`), null);
  assert.equal(containerIdOf(`/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-conmon-${A}.scope`), null);
});

test('nested: the innermost container wins (docker-in-docker, kind nodes)', () => {
  assert.equal(containerIdOf(`/docker/${A}/docker/${B}`), B);
  assert.equal(containerIdOf(
    `/system.slice/docker-${A}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/` +
    `kubelet-kubepods-besteffort-pod1.slice/cri-containerd-${B}.scope`), B);
  assert.equal(containerIdOf(`/docker/${A}/kubepods/besteffort/pod1/${B}`), B);
  // The node's own processes (kubelet) are in the node's container.
  assert.equal(containerIdOf(`/system.slice/docker-${A}.scope/kubelet.slice`), A);
});

test('not containers: host cgroups, near misses', () => {
  for (const p of [
    '/', '', '/init.scope', '/system.slice/docker.service', '/system.slice/containerd.service',
    '/user.slice/user-1000.slice/session-3.scope', '/system.slice/sshd.service',
    `/docker/${A.slice(1)}`, // 63 hex
    `/docker/${A}0`, // 65 hex
    `/docker/${A.toUpperCase()}`, // ids are lowercase
    `/system.slice/docker-${A}.service`,
    `/system.slice/podman-${A}.scope`,
    `/system.slice/docker-${A.slice(0, 12)}.scope`,
  ]) {
    assert.equal(containerIdOf(p), null, p);
  }
});

test('shortContainerId: 12 hex, as docker ps shows it; null stays null', () => {
  assert.equal(shortContainerId(A), '8d1f1c7e2b3a');
  assert.equal(shortContainerId(null), null);
});

test('containerCgroupOf: the path down to the component naming the container', () => {
  assert.equal(containerCgroupOf(`/machine.slice/libpod-${A}.scope/container`), `/machine.slice/libpod-${A}.scope`);
  assert.equal(containerCgroupOf(`/docker/${A}`), `/docker/${A}`);
  assert.equal(containerCgroupOf(`/docker/${A}/docker/${B}/x`), `/docker/${A}/docker/${B}`);
  assert.equal(containerCgroupOf('/system.slice/sshd.service'), null);
});

test('podUidOf: the pod of kubelet\'s cgroupfs and systemd layouts, every QoS class; not elsewhere', () => {
  const UID = '5f1d2a3b-4c5d-6e7f-8a9b-0c1d2e3f4a5b';
  assert.equal(podUidOf(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5f1d2a3b_4c5d_6e7f_8a9b_0c1d2e3f4a5b.slice/cri-containerd-${A}.scope`), UID);
  assert.equal(podUidOf('/kubepods.slice/kubepods-pod5f1d2a3b_4c5d_6e7f_8a9b_0c1d2e3f4a5b.slice'), UID);
  assert.equal(podUidOf(`/kubepods/besteffort/pod${UID}/${A}`), UID);
  assert.equal(podUidOf(`/kubepods/pod${UID}`), UID);
  // kind: a node that is itself a container, the pod below it.
  assert.equal(podUidOf(`/system.slice/docker-${B}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod5f1d2a3b_4c5d_6e7f_8a9b_0c1d2e3f4a5b.slice`), UID);
  assert.equal(podUidOf(`/system.slice/docker-${A}.scope`), null);
  assert.equal(podUidOf('/kubepods.slice/kubepods-pod5f1d2a3b_4c5d.slice'), null); // not a whole UID
  assert.equal(podUidOf('/user.slice/pod-notes.scope'), null);
});
