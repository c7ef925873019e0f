"""Drives containerd's CRI plugin through the CRI gRPC API (runtime.v1), the way a kubelet
would, with a runtime handler whose runc binary is swiftlet. Prints one line per check
("ok   NAME" or "FAIL NAME" plus details); the exit status is 1 if any check failed.

usage: cri.py SOCKET GENERATED_DIR RUNTIME RUNC_ROOT CGROUP_PARENT LOG_DIR IMAGE HANDLER
(a HANDLER ending in "-uml": a pod and a container in the UML tier instead)
"""
import json
import os
import subprocess
import sys
import time

socket, gen_dir, runtime, runc_root, cgroup_parent, log_dir, image, handler = sys.argv[1:9]
sys.path.insert(0, gen_dir)
import grpc  # noqa: E402
import api_pb2 as api  # noqa: E402
import api_pb2_grpc as api_grpc  # noqa: E402

failures = 0


def check(name, ok, detail=""):
    global failures
    if ok:
        print("ok   " + name, flush=True)
    else:
        failures += 1
        print("FAIL " + name, flush=True)
        for line in str(detail).splitlines()[:20]:
            print("       " + line, flush=True)


def unexpected_error(kind, value, traceback):
    """A CRI call that fails ends the run as one failed check; cri.sh then cleans up."""
    check("CRI call succeeds", False, "%s: %s" % (kind.__name__, value))
    sys.exit(1)


sys.excepthook = unexpected_error


def expect_eq(name, want, got):
    check(name, want == got, "expected: %r\nactual:   %r" % (want, got))


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        return str(e)


def cgroup_file(pid, controller, name):
    """The host's view of a cgroup v1 file of PID's cgroup."""
    with open("/proc/%d/cgroup" % pid) as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controller in controllers.split(","):
                return read("/sys/fs/cgroup/%s%s/%s" % (controller, path, name))
    return "no %s cgroup for pid %d" % (controller, pid)


def swiftlet_status(container_id):
    """The status swiftlet itself reports, from the state directory the shim gave it."""
    out = subprocess.run([runtime, "--root", os.path.join(runc_root, "k8s.io"), "state", container_id],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return "state failed: " + out.stderr.strip()
    return json.loads(out.stdout)["status"]


def swiftlet_state(container_id):
    """swiftlet's state of the container ({} when it has none)."""
    out = subprocess.run([runtime, "--root", os.path.join(runc_root, "k8s.io"), "state", container_id],
                         capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else {}


channel = grpc.insecure_channel("unix://" + socket)
rt = api_grpc.RuntimeServiceStub(channel)
T = 60

version = rt.Version(api.VersionRequest(version="v1"), timeout=T)
expect_eq("Version: runtime name", "containerd", version.runtime_name)
expect_eq("Version: CRI api version", "v1", version.runtime_api_version)


def wait_until(seconds, condition):
    deadline = time.time() + seconds
    while not condition() and time.time() < deadline:
        time.sleep(0.2)
    return condition()


def uml_pod():
    """A pod and a container in the UML tier, chosen by the handler alone (no annotation)."""
    config = api.PodSandboxConfig(
        metadata=api.PodSandboxMetadata(name="swiftlet-uml-pod", uid="uml-%d" % os.getpid(), namespace="swiftlet-test"),
        log_directory=log_dir,
        linux=api.LinuxPodSandboxConfig(
            cgroup_parent=cgroup_parent,
            security_context=api.LinuxSandboxSecurityContext(
                namespace_options=api.NamespaceOption(network=api.NODE, pid=api.CONTAINER, ipc=api.POD))))
    pod = rt.RunPodSandbox(api.RunPodSandboxRequest(config=config, runtime_handler=handler), timeout=T).pod_sandbox_id
    status = rt.PodSandboxStatus(api.PodSandboxStatusRequest(pod_sandbox_id=pod), timeout=T).status
    expect_eq("uml: RunPodSandbox: sandbox ready", api.SANDBOX_READY, status.state)
    state = swiftlet_state(pod)
    expect_eq("uml: the sandbox runs in the tier", "uml", state.get("annotations", {}).get("org.swiftlet.isolation"))
    container_config = api.ContainerConfig(
        metadata=api.ContainerMetadata(name="umlbox"),
        image=api.ImageSpec(image=image),
        command=["sh", "-c", "trap 'echo got-term; exit 0' TERM; echo started $(uname -r); while true; do sleep 0.1; done"],
        log_path="umlbox.log",
        linux=api.LinuxContainerConfig(
            resources=api.LinuxContainerResources(memory_limit_in_bytes=96 * 1024 * 1024),
            security_context=api.LinuxContainerSecurityContext(
                namespace_options=api.NamespaceOption(network=api.NODE, pid=api.CONTAINER, ipc=api.POD))))
    cid = rt.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=pod, config=container_config,
                                                        sandbox_config=config), timeout=T).container_id
    rt.StartContainer(api.StartContainerRequest(container_id=cid), timeout=T)
    status = rt.ContainerStatus(api.ContainerStatusRequest(container_id=cid), timeout=T).status
    expect_eq("uml: StartContainer: running", api.CONTAINER_RUNNING, status.state)
    state = swiftlet_state(cid)
    expect_eq("uml: swiftlet reports the container running", "running", state.get("status"))
    expect_eq("uml: the container runs in the tier", "uml", state.get("annotations", {}).get("org.swiftlet.isolation"))
    log_file = os.path.join(log_dir, "umlbox.log")
    wait_until(30, lambda: "started" in read(log_file))
    log = read(log_file)
    host = os.uname().release
    check("uml: the container runs on a kernel of its own", "stdout F started 6.1." in log and host not in log, log)
    r = rt.ExecSync(api.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", "uname -r; echo oops >&2; exit 3"],
                                        timeout=30), timeout=T)
    check("uml: ExecSync runs in the guest", r.stdout.decode().startswith("6.1.") and host not in r.stdout.decode(), r)
    expect_eq("uml: ExecSync: stderr", b"oops\n", r.stderr)
    expect_eq("uml: ExecSync: exit code", 3, r.exit_code)
    rt.StopContainer(api.StopContainerRequest(container_id=cid, timeout=20), timeout=T)
    status = rt.ContainerStatus(api.ContainerStatusRequest(container_id=cid), timeout=T).status
    expect_eq("uml: StopContainer: exited", api.CONTAINER_EXITED, status.state)
    expect_eq("uml: StopContainer: SIGTERM reached the trap in the guest (exit 0)", 0, status.exit_code)
    check("uml: the log has the trap's output", "got-term" in read(log_file), read(log_file))
    rt.RemoveContainer(api.RemoveContainerRequest(container_id=cid), timeout=T)
    check("uml: RemoveContainer: swiftlet state is gone", not os.path.exists(os.path.join(runc_root, "k8s.io", cid)))
    rt.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=T)
    rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=T)
    check("uml: RemovePodSandbox: swiftlet state is gone", not os.path.exists(os.path.join(runc_root, "k8s.io", pod)))


if handler.endswith("-uml"):
    uml_pod()
    sys.exit(1 if failures else 0)

# Host network (no CNI needed), its own pid namespace, the pod's ipc namespace.
sandbox_config = api.PodSandboxConfig(
    metadata=api.PodSandboxMetadata(name="swiftlet-pod", uid="uid-%d" % os.getpid(), namespace="swiftlet-test"),
    log_directory=log_dir,
    linux=api.LinuxPodSandboxConfig(
        cgroup_parent=cgroup_parent,
        security_context=api.LinuxSandboxSecurityContext(
            namespace_options=api.NamespaceOption(network=api.NODE, pid=api.CONTAINER, ipc=api.POD))))
pod = rt.RunPodSandbox(api.RunPodSandboxRequest(config=sandbox_config, runtime_handler=handler), timeout=T).pod_sandbox_id
status = rt.PodSandboxStatus(api.PodSandboxStatusRequest(pod_sandbox_id=pod), timeout=T).status
expect_eq("RunPodSandbox: sandbox ready", api.SANDBOX_READY, status.state)
expect_eq("RunPodSandbox: runtime handler", handler, status.runtime_handler)
check("the sandbox is a swiftlet container", os.path.isfile(os.path.join(runc_root, "k8s.io", pod, "state.json")),
      "no %s/k8s.io/%s/state.json" % (runc_root, pod))
expect_eq("swiftlet reports the sandbox running", "running", swiftlet_status(pod))

mib = 1024 * 1024
container_config = api.ContainerConfig(
    metadata=api.ContainerMetadata(name="box"),
    image=api.ImageSpec(image=image),
    command=["sh", "-c", "trap 'echo got-term; exit 0' TERM; echo started; while true; do sleep 0.1; done"],
    working_dir="/tmp",
    envs=[api.KeyValue(key="FOO", value="bar")],
    log_path="box.log",
    linux=api.LinuxContainerConfig(
        resources=api.LinuxContainerResources(memory_limit_in_bytes=48 * mib, cpu_period=100000, cpu_quota=50000),
        security_context=api.LinuxContainerSecurityContext(
            namespace_options=api.NamespaceOption(network=api.NODE, pid=api.CONTAINER, ipc=api.POD),
            capabilities=api.Capability(drop_capabilities=["ALL"], add_capabilities=["NET_ADMIN"]),
            no_new_privs=True,
            seccomp=api.SecurityProfile(profile_type=api.SecurityProfile.RuntimeDefault))))
cid = rt.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=pod, config=container_config,
                                                    sandbox_config=sandbox_config), timeout=T).container_id
status = rt.ContainerStatus(api.ContainerStatusRequest(container_id=cid), timeout=T).status
expect_eq("CreateContainer: created", api.CONTAINER_CREATED, status.state)
# containerd's CRI creates the runtime container (the task) only at StartContainer.
rt.StartContainer(api.StartContainerRequest(container_id=cid), timeout=T)
response = rt.ContainerStatus(api.ContainerStatusRequest(container_id=cid, verbose=True), timeout=T)
expect_eq("StartContainer: running", api.CONTAINER_RUNNING, response.status.state)
expect_eq("swiftlet reports the container running", "running", swiftlet_status(cid))
pid = json.loads(response.info.get("info", "{}")).get("pid", 0)
check("ContainerStatus reports the pid", pid > 0, response.info)

r = rt.ExecSync(api.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", "echo $FOO $(pwd); echo oops >&2; exit 3"],
                                    timeout=30), timeout=T)
expect_eq("ExecSync: stdout", b"bar /tmp\n", r.stdout)
expect_eq("ExecSync: stderr", b"oops\n", r.stderr)
expect_eq("ExecSync: exit code", 3, r.exit_code)
r = rt.ExecSync(api.ExecSyncRequest(container_id=cid, cmd=["grep", "-E", "^(CapEff|NoNewPrivs|Seccomp):",
                                                           "/proc/self/status"], timeout=30), timeout=T)
expect_eq("ExecSync: capabilities, no_new_privs, seccomp of the container",
          "CapEff:\t0000000000001000\nNoNewPrivs:\t1\nSeccomp:\t2", r.stdout.decode().strip())
try:
    r = rt.ExecSync(api.ExecSyncRequest(container_id=cid, cmd=["/no/such/binary"], timeout=30), timeout=T)
    check("ExecSync of a missing binary fails with runc's wording", False, r)
except grpc.RpcError as e:
    check("ExecSync of a missing binary fails with runc's wording", "no such file or directory" in e.details(),
          e.details())

if pid > 0:
    expect_eq("memory limit in the container's cgroup", str(48 * mib), cgroup_file(pid, "memory", "memory.limit_in_bytes"))
    expect_eq("cpu quota in the container's cgroup", "50000", cgroup_file(pid, "cpu", "cpu.cfs_quota_us"))
    check("cgroup below the pod's cgroup parent",
          any(l.split(":", 2)[2].startswith(cgroup_parent + "/") for l in open("/proc/%d/cgroup" % pid) if ":memory:" in l))
rt.UpdateContainerResources(api.UpdateContainerResourcesRequest(
    container_id=cid, linux=api.LinuxContainerResources(memory_limit_in_bytes=64 * mib, cpu_period=100000,
                                                        cpu_quota=20000)), timeout=T)
if pid > 0:
    expect_eq("UpdateContainerResources: new memory limit", str(64 * mib), cgroup_file(pid, "memory", "memory.limit_in_bytes"))
    expect_eq("UpdateContainerResources: new cpu quota", "20000", cgroup_file(pid, "cpu", "cpu.cfs_quota_us"))

rt.StopContainer(api.StopContainerRequest(container_id=cid, timeout=10), timeout=T)
status = rt.ContainerStatus(api.ContainerStatusRequest(container_id=cid), timeout=T).status
expect_eq("StopContainer: exited", api.CONTAINER_EXITED, status.state)
expect_eq("StopContainer: SIGTERM reached the trap (exit 0)", 0, status.exit_code)
log = read(os.path.join(log_dir, "box.log"))
check("container log has its output", "stdout F started" in log and "got-term" in log, log)
rt.RemoveContainer(api.RemoveContainerRequest(container_id=cid), timeout=T)
check("RemoveContainer: swiftlet state is gone", not os.path.exists(os.path.join(runc_root, "k8s.io", cid)))

rt.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=T)
status = rt.PodSandboxStatus(api.PodSandboxStatusRequest(pod_sandbox_id=pod), timeout=T).status
expect_eq("StopPodSandbox: not ready", api.SANDBOX_NOTREADY, status.state)
rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=T)
check("RemovePodSandbox: swiftlet state is gone", not os.path.exists(os.path.join(runc_root, "k8s.io", pod)))
try:
    rt.PodSandboxStatus(api.PodSandboxStatusRequest(pod_sandbox_id=pod), timeout=T)
    check("RemovePodSandbox: the sandbox is unknown", False, "PodSandboxStatus still answers")
except grpc.RpcError as e:
    expect_eq("RemovePodSandbox: the sandbox is unknown", grpc.StatusCode.NOT_FOUND, e.code())

sys.exit(1 if failures else 0)
