#include "clinux.h"
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <linux/capability.h>
#include <sys/fsuid.h>

/* ---- seccomp user notifications ---- */

static struct seccomp_notif_sizes notif_sizes;
static int have_notif_sizes;

/* The kernel's structs may grow; its sizes (not our header's) size the buffers. */
static int load_notif_sizes(void) {
    if (have_notif_sizes) return 0;
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &notif_sizes) < 0) return -1;
    if (notif_sizes.seccomp_notif > 1024 || notif_sizes.seccomp_notif_resp > 1024) { errno = E2BIG; return -1; }
    have_notif_sizes = 1;
    return 0;
}

int cl_agent_notif_recv(int fd, uint64_t *id, uint32_t *pid, int32_t *nr, uint32_t *arch, uint64_t *args) {
    union { struct seccomp_notif n; char bytes[1024]; } buf;
    if (load_notif_sizes() < 0) return -1;
    memset(&buf, 0, sizeof buf); /* the kernel insists on a zeroed buffer */
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &buf) < 0) return -1;
    *id = buf.n.id;
    *pid = buf.n.pid;
    *nr = buf.n.data.nr;
    *arch = buf.n.data.arch;
    for (int i = 0; i < 6; i++) args[i] = buf.n.data.args[i];
    return 0;
}

int cl_agent_notif_send(int fd, uint64_t id, int64_t val, int32_t error, uint32_t flags) {
    union { struct seccomp_notif_resp r; char bytes[1024]; } buf;
    if (load_notif_sizes() < 0) return -1;
    memset(&buf, 0, sizeof buf);
    buf.r.id = id;
    buf.r.val = val;
    buf.r.error = error;
    buf.r.flags = flags;
    int rc;
    do { rc = ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &buf); } while (rc < 0 && errno == EINTR);
    return rc;
}

int cl_agent_notif_id_valid(int fd, uint64_t id) {
    return ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id);
}

uint32_t cl_agent_user_notif_flag_continue(void) { return SECCOMP_USER_NOTIF_FLAG_CONTINUE; }

/* ---- epoll and signals ---- */

int cl_agent_epoll_add(int ep, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = { .events = events, .data.u64 = data };
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int cl_agent_epoll_del(int ep, int fd) {
    return epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
}

int cl_agent_epoll_wait(int ep, uint64_t *data, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event evs[64];
    if (max > 64) max = 64;
    int n = epoll_wait(ep, evs, max, timeout_ms);
    for (int i = 0; i < n; i++) { data[i] = evs[i].data.u64; events[i] = evs[i].events; }
    return n;
}

int cl_agent_signalfd(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) return -1;
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int cl_agent_signalfd_next(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    if (n == (ssize_t)sizeof info) return (int)info.ssi_signo;
    if (n < 0 && errno == EAGAIN) return 0;
    return -1;
}

int cl_agent_peer_credentials(int sock, int32_t *pid, uint32_t *uid) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -1;
    *pid = cred.pid;
    *uid = cred.uid;
    return 0;
}

int cl_agent_userns_owner(int nsfd, uint32_t *uid) {
    uid_t owner;
    if (ioctl(nsfd, _IO(0xb7, 0x4) /* NS_GET_OWNER_UID */, &owner) < 0) return -1;
    *uid = owner;
    return 0;
}

/* ---- acting inside a container ---- */

enum op_kind { OP_MOUNT, OP_UMOUNT, OP_MKNOD, OP_PATH_OF };

struct op {
    enum op_kind kind;
    int userns_fd, mntns_fd, root_fd, dir_fd;
    const char *target, *source, *bind_source, *fstype;
    unsigned long flags;
    const void *data;
    unsigned int mode;
    uint64_t dev;
    uint32_t uid, gid;
    char *out;
    size_t out_len;
};

/* `path` is absolute and normalized (no ".", "..", or empty parts). Every component must
 * be a real directory entry below the container's root: no symlink, no magic link, no
 * escape, so what was checked is what gets used. */
static int resolve(const struct op *op, const char *path, int flags) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    while (*path == '/') path++;
    if (!*path) path = ".";
    return (int)syscall(SYS_openat2, op->root_fd, path, &how, sizeof how);
}

/* Opens the parent directory of `path` and points *name at its last component. */
static int resolve_parent(const struct op *op, const char *path, char *parent, size_t len, const char **name) {
    const char *slash = strrchr(path, '/');
    if (!slash || !slash[1]) { errno = EINVAL; return -1; }
    size_t n = (size_t)(slash - path);
    if (n >= len) { errno = ENAMETOOLONG; return -1; }
    memcpy(parent, path, n);
    parent[n] = 0;
    *name = slash + 1;
    return resolve(op, n ? parent : "/", O_PATH | O_DIRECTORY);
}

static int run_op(const struct op *op) {
    if (op->userns_fd >= 0 && setns(op->userns_fd, CLONE_NEWUSER) < 0) return errno;
    if (setns(op->mntns_fd, CLONE_NEWNS) < 0) return errno;
    if (fchdir(op->root_fd) < 0 || chroot(".") < 0) return errno;
    umask(0); /* the caller applied the container's umask */
    char parent[4096];
    const char *name;
    switch (op->kind) {
    case OP_PATH_OF:
        if (fchdir(op->dir_fd) < 0) return errno;
        if (!getcwd(op->out, op->out_len)) return errno;
        if (op->out[0] != '/') return ENOENT; /* "(unreachable)": outside the container's root */
        return 0;
    case OP_MOUNT: {
        int target = resolve(op, op->target, O_PATH);
        if (target < 0) return errno;
        if (op->bind_source) {
            int source = resolve(op, op->bind_source, O_PATH);
            if (source < 0) return errno;
            unsigned int tree_flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH;
            if (op->flags & MS_REC) tree_flags |= AT_RECURSIVE;
            int tree = (int)syscall(SYS_open_tree, source, "", tree_flags);
            if (tree < 0) return errno;
            struct mount_attr attr;
            memset(&attr, 0, sizeof attr);
            if (op->flags & MS_RDONLY) attr.attr_set |= MOUNT_ATTR_RDONLY;
            if (op->flags & MS_NOSUID) attr.attr_set |= MOUNT_ATTR_NOSUID;
            if (op->flags & MS_NODEV) attr.attr_set |= MOUNT_ATTR_NODEV;
            if (op->flags & MS_NOEXEC) attr.attr_set |= MOUNT_ATTR_NOEXEC;
            if (attr.attr_set &&
                syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | ((op->flags & MS_REC) ? AT_RECURSIVE : 0),
                        &attr, sizeof attr) < 0)
                return errno;
            if (syscall(SYS_move_mount, tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return errno;
            return 0;
        }
        /* "." is the directory just resolved: the kernel looks up nothing the container controls. */
        if (fchdir(target) < 0) return errno;
        if (mount(op->source, ".", op->fstype, op->flags, op->data) < 0) return errno;
        return 0;
    }
    case OP_UMOUNT: {
        int dir = resolve_parent(op, op->target, parent, sizeof parent, &name);
        if (dir < 0) return errno;
        if (fchdir(dir) < 0) return errno;
        if (umount2(name, (int)op->flags | UMOUNT_NOFOLLOW) < 0) return errno;
        return 0;
    }
    case OP_MKNOD: {
        int dir = resolve_parent(op, op->target, parent, sizeof parent, &name);
        if (dir < 0) return errno;
        /* Create as the caller's fsuid/fsgid, as the kernel would: the node gets their
         * ids, and a file system mounted in their user namespace accepts the new inode
         * (host root is unmapped there: EOVERFLOW). Changing fsuid drops CAP_MKNOD from
         * the effective set; it is raised again from the permitted set. */
        setfsgid(op->gid);
        setfsuid(op->uid);
        if ((uid_t)setfsuid((uid_t)-1) != op->uid || (gid_t)setfsgid((gid_t)-1) != op->gid) return EPERM;
        struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
        struct __user_cap_data_struct caps[2];
        if (syscall(SYS_capget, &header, caps) < 0) return errno;
        caps[0].effective = caps[0].permitted;
        caps[1].effective = caps[1].permitted;
        if (syscall(SYS_capset, &header, caps) < 0) return errno;
        if (mknodat(dir, name, op->mode, op->dev) < 0) return errno;
        return 0;
    }
    }
    return EINVAL;
}

/* One helper at a time (the agent is single-threaded), so one stack serves them all. */
static char helper_stack[256 * 1024] __attribute__((aligned(16)));

static int helper_main(void *arg) {
    int e = run_op((const struct op *)arg);
    return e > 255 ? EIO : e;
}

/* Runs `op` in a child. Without a user namespace to enter, the child shares our memory
 * (no page-table copy: the fast path); setns(CLONE_NEWUSER) refuses a shared mm, so
 * then it is a plain fork-like child. The exit status carries the errno. */
static int run_helper(struct op *op, int timeout_ms) {
    int share_vm = op->userns_fd < 0;
    int pidfd = -1;
    int flags = CLONE_PIDFD | SIGCHLD | (share_vm ? CLONE_VM : 0);
    pid_t pid = clone(helper_main, helper_stack + sizeof helper_stack, flags, op, &pidfd);
    if (pid < 0) return errno;
    struct pollfd p = { .fd = pidfd, .events = POLLIN };
    int r;
    do { r = poll(&p, 1, timeout_ms); } while (r < 0 && errno == EINTR);
    if (r == 0) syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    int status = 0;
    while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR) {}
    close(pidfd);
    if (r == 0) return ETIMEDOUT;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return EINTR;
}

int cl_agent_mount(int userns_fd, int mntns_fd, int root_fd, const char *target, const char *source,
                   const char *bind_source, const char *fstype, unsigned long flags, const void *data,
                   int timeout_ms) {
    struct op op = { .kind = OP_MOUNT, .userns_fd = userns_fd, .mntns_fd = mntns_fd, .root_fd = root_fd,
                     .dir_fd = -1, .target = target, .source = source, .bind_source = bind_source,
                     .fstype = fstype, .flags = flags, .data = data };
    return run_helper(&op, timeout_ms);
}

int cl_agent_umount(int userns_fd, int mntns_fd, int root_fd, const char *target, int flags, int timeout_ms) {
    struct op op = { .kind = OP_UMOUNT, .userns_fd = userns_fd, .mntns_fd = mntns_fd, .root_fd = root_fd,
                     .dir_fd = -1, .target = target, .flags = (unsigned long)flags };
    return run_helper(&op, timeout_ms);
}

int cl_agent_mknod(int mntns_fd, int root_fd, const char *path, unsigned int mode, uint64_t dev,
                   uint32_t uid, uint32_t gid, int timeout_ms) {
    struct op op = { .kind = OP_MKNOD, .userns_fd = -1, .mntns_fd = mntns_fd, .root_fd = root_fd,
                     .dir_fd = -1, .target = path, .mode = mode, .dev = dev, .uid = uid, .gid = gid };
    return run_helper(&op, timeout_ms);
}

int cl_agent_path_of(int mntns_fd, int root_fd, int dir_fd, char *out, size_t len, int timeout_ms) {
    if (len == 0) return EINVAL;
    out[0] = 0;
    struct op op = { .kind = OP_PATH_OF, .userns_fd = -1, .mntns_fd = mntns_fd, .root_fd = root_fd,
                     .dir_fd = dir_fd, .out = out, .out_len = len };
    return run_helper(&op, timeout_ms);
}
