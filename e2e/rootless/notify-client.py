#!/usr/bin/env python3
"""A hostile rootless client of the agent's user socket: this very process (on the host, in
the host's user and mount namespaces) loads a seccomp filter that notifies mknod and
mknodat, sends the notify fd with a container process state claiming whatever the
arguments say, then calls mknod(PATH, S_IFCHR|0666, 1:3) and prints "mknod errno=N".
  usage: notify-client.py SOCKET CLAIMED_PID|self ID KEY=VALUE PATH [CHILD_PATH]
With CHILD_PATH, a child that made user and mount namespaces of its own (unshare -Um: the
user's, so the agent performs its call) first calls mknod(CHILD_PATH, ...) through the same
notify fd and prints "child mknod errno=N"; then this process makes its call.
x86_64 only (the filter checks the architecture)."""
import ctypes, json, os, socket, stat, struct, sys

sock_path, claimed_pid, cid, annotation, target = sys.argv[1:6]
child_target = sys.argv[6] if len(sys.argv) > 6 else None
if claimed_pid == "self":
    claimed_pid = str(os.getpid())
key, value = annotation.split("=", 1)
libc = ctypes.CDLL(None, use_errno=True)

def insn(code, jt, jf, k):
    return struct.pack("HBBI", code, jt, jf, k)
LD_ABS, JEQ, RET = 0x20, 0x15, 0x06
ALLOW, USER_NOTIF = 0x7FFF0000, 0x7FC00000
program = b"".join([
    insn(LD_ABS, 0, 0, 4),                   # seccomp_data.arch
    insn(JEQ, 1, 0, 0xC000003E),             # AUDIT_ARCH_X86_64
    insn(RET, 0, 0, ALLOW),
    insn(LD_ABS, 0, 0, 0),                   # seccomp_data.nr
    insn(JEQ, 2, 0, 133),                    # mknod
    insn(JEQ, 1, 0, 259),                    # mknodat
    insn(RET, 0, 0, ALLOW),
    insn(RET, 0, 0, USER_NOTIF),
])
buf = ctypes.create_string_buffer(program)
fprog = struct.pack("HxxxxxxQ", len(program) // 8, ctypes.addressof(buf))
fprog_buf = ctypes.create_string_buffer(fprog)
if libc.prctl(38, 1, 0, 0, 0) != 0:          # PR_SET_NO_NEW_PRIVS
    sys.exit("prctl: errno %d" % ctypes.get_errno())
fd = libc.syscall(317, 1, 8, fprog_buf)      # seccomp(SET_MODE_FILTER, FLAG_NEW_LISTENER)
if fd < 0:
    sys.exit("seccomp: errno %d" % ctypes.get_errno())

state = {"ociVersion": "1.3.0", "fds": ["seccompFd"], "pid": int(claimed_pid),
         "state": {"ociVersion": "1.3.0", "id": cid, "status": "creating", "pid": int(claimed_pid),
                   "bundle": "/", "annotations": {key: value}}}
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sock_path)
    socket.send_fds(s, [json.dumps(state).encode()], [fd])
except OSError as e:   # the agent may hang up at once (a refused peer)
    print("send errno=%d" % e.errno)
s.close()
os.close(fd)
# Give the agent a moment to attach (or refuse) before the call it would answer.
import time; time.sleep(0.3)
if child_target:
    child = os.fork()
    if child == 0:
        if libc.unshare(0x10000000 | 0x00020000) != 0:   # CLONE_NEWUSER | CLONE_NEWNS
            print("child unshare errno=%d" % ctypes.get_errno(), flush=True)
            os._exit(1)
        try:
            os.mknod(child_target, stat.S_IFCHR | 0o666, os.makedev(1, 3))
            print("child mknod errno=0", flush=True)
        except OSError as e:
            print("child mknod errno=%d" % e.errno, flush=True)
        os._exit(0)
    os.waitpid(child, 0)
try:
    os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    print("mknod errno=0")
except OSError as e:
    print("mknod errno=%d" % e.errno)
