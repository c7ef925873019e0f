#include "clinux.h"
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/vfs.h>
#include <linux/magic.h>

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

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

int cl_agent_notif_sync_wakeup(int fd) {
    return ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
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

int cl_agent_ns_owner_uid(int userns_fd, uint32_t *uid) {
    uid_t owner;
    if (ioctl(userns_fd, _IO(0xb7, 0x4), &owner) < 0) return -1;   /* NS_GET_OWNER_UID */
    *uid = (uint32_t)owner;
    return 0;
}

int cl_agent_ns_owning_userns(int ns_fd) { return ioctl(ns_fd, _IO(0xb7, 0x1)); }   /* NS_GET_USERNS */

int cl_agent_ns_parent(int userns_fd) { return ioctl(userns_fd, _IO(0xb7, 0x2)); }   /* NS_GET_PARENT */

/* ---- memory ---- */

/* Bounds of the executable's own code, from the linker (weak: absent, nothing is done). */
extern char __executable_start[] __attribute__((weak));
extern char etext[] __attribute__((weak));

void cl_agent_release_code(void) {
    if (!__executable_start || !etext) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = ((uintptr_t)__executable_start + page - 1) & ~(page - 1);
    uintptr_t end = (uintptr_t)etext & ~(page - 1);
    if (end > start) madvise((void *)start, end - start, MADV_DONTNEED);
}

int cl_agent_release_code_and_poll(struct pollfd *fds, nfds_t count, int timeout) {
    cl_agent_release_code();
    return poll(fds, count, timeout);
}

/* ---- acting inside a container: one long-lived helper per container ---- */

enum op_kind { OP_MOUNT = 1, OP_UMOUNT, OP_MKNOD, OP_PATH_OF };

/* Strings that follow a request, in this order; a length of 0 means NULL, else it counts
 * the NUL. */
enum { S_TARGET, S_SOURCE, S_BIND_SOURCE, S_FSTYPE, S_DATA, S_GROUPS, S_COUNT };
#define MAX_STRING 4097

struct request {
    uint32_t seq, kind;
    uint64_t flags, dev;
    uint32_t mode, uid, gid;
    uint32_t len[S_COUNT];
};

struct reply {
    uint32_t seq;
    int32_t error;
};

/* An operation as the helper performs it, with the fds it was sent. */
struct op {
    enum op_kind kind;
    /* dir_fd: the directory of OP_PATH_OF, or the block device of a disk mount, which
     * then comes with proc_fd, a procfs to name both fds by. */
    int root_fd, dir_fd, proc_fd;
    const char *target, *source, *bind_source, *fstype, *groups;
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
    return cl_agent_open_beneath(op->root_fd, path, flags);
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

/* Runs in the helper, which is already in the container's namespaces. Fds it opens are
 * closed by the caller's close_range after each request. */
static int run_op(const struct op *op) {
    /* The task's root: absolute mount sources and getcwd are relative to it. */
    if (fchdir(op->root_fd) < 0 || chroot(".") < 0) return errno;
    char parent[MAX_STRING];
    const char *name;
    switch (op->kind) {
    case OP_PATH_OF:
        if (fchdir(op->dir_fd) < 0) return errno;
        if (!getcwd(op->out, op->out_len)) return errno;
        if (op->out[0] != '/') return ENOENT; /* "(unreachable)": outside the container's root */
        return 0;
    case OP_MOUNT: {
        if (!op->target) return EINVAL;
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
        if (op->dir_fd >= 0) {
            /* A disk file system: its source is the block device the agent opened and
             * checked, named through a procfs that is not the container's, as is the
             * target. (FSCONFIG_SET_FD cannot carry it: the VFS takes "source" as a string
             * only, which get_tree_bdev looks up.) */
            struct stat st;
            struct statfs fs;
            if (fstat(op->dir_fd, &st) < 0) return errno;
            if (!S_ISBLK(st.st_mode) || (uint64_t)st.st_rdev != op->dev) return ENOTBLK;
            if (op->proc_fd < 0 || fstatfs(op->proc_fd, &fs) < 0 || fs.f_type != PROC_SUPER_MAGIC) return EINVAL;
            char source[32], dest[32];
            snprintf(source, sizeof source, "self/fd/%d", op->dir_fd);
            snprintf(dest, sizeof dest, "self/fd/%d", target);
            if (fchdir(op->proc_fd) < 0) return errno;
            if (mount(source, dest, op->fstype, op->flags, op->data) < 0) return errno;
            return 0;
        }
        /* "." is the directory just resolved: the kernel looks up nothing the container controls. */
        if (fchdir(target) < 0) return errno;
        if (mount(op->source, ".", op->fstype, op->flags, op->data) < 0) return errno;
        return 0;
    }
    case OP_UMOUNT: {
        if (!op->target) return EINVAL;
        int dir = resolve_parent(op, op->target, parent, sizeof parent, &name);
        if (dir < 0) return errno;
        if (fchdir(dir) < 0) return errno;
        if (umount2(name, (int)op->flags | UMOUNT_NOFOLLOW) < 0) return errno;
        return 0;
    }
    case OP_MKNOD: {
        if (!op->target) return EINVAL;
        /* Act as the caller: its fsuid, fsgid and groups, and of the capabilities only
         * CAP_MKNOD (taking the fsuid already dropped the file ones, CAP_DAC_OVERRIDE and
         * the like, from the effective set). The kernel then checks, as for the caller,
         * search permission on the way to the parent, write permission on it, and the
         * file system's idea of who owns the new node. reset_after_op undoes all of it. */
        gid_t groups[MAX_STRING / 2];
        size_t ngroups = 0;
        for (const char *p = op->groups ? op->groups : ""; *p;) {
            char *end;
            unsigned long g = strtoul(p, &end, 10);
            if (end == p || g > 0xfffffffeUL || ngroups == sizeof groups / sizeof groups[0]) return EINVAL;
            groups[ngroups++] = (gid_t)g;
            p = *end == ' ' ? end + 1 : end;
            if (*end && *end != ' ') return EINVAL;
        }
        if (setgroups(ngroups, groups) < 0) return errno;
        setfsgid(op->gid);
        setfsuid(op->uid);
        if ((uid_t)setfsuid((uid_t)-1) != op->uid || (gid_t)setfsgid((gid_t)-1) != op->gid) return EPERM;
        struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
        struct __user_cap_data_struct caps[2];
        if (syscall(SYS_capget, &header, caps) < 0) return errno;
        if (!(caps[0].permitted & (1U << CAP_MKNOD))) return EPERM;
        caps[0].effective = 1U << CAP_MKNOD;
        caps[1].effective = 0;
        if (syscall(SYS_capset, &header, caps) < 0) return errno;
        int dir = resolve_parent(op, op->target, parent, sizeof parent, &name);
        if (dir < 0) return errno;
        if (mknodat(dir, name, op->mode, op->dev) < 0) return errno;
        return 0;
    }
    }
    return EINVAL;
}

/* Restores what a request may have changed: fsuid/fsgid, groups and the effective
 * capabilities. The root is set again by every request. A helper that cannot go back
 * exits (the next call starts a new one) rather than serve with a caller's identity. */
static void reset_after_op(void) {
    setfsuid(0);
    setfsgid(0);
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct caps[2];
    if (syscall(SYS_capget, &header, caps) < 0) _exit(1);
    caps[0].effective = caps[0].permitted;
    caps[1].effective = caps[1].permitted;
    if (syscall(SYS_capset, &header, caps) < 0) _exit(1);
    if (setgroups(0, NULL) < 0 && errno != EPERM) _exit(1);
}

static int send_reply(int sock, uint32_t seq, int error, const char *extra, size_t extra_len) {
    struct reply r = { .seq = seq, .error = error };
    struct iovec iov[2] = { { &r, sizeof r }, { (void *)extra, extra_len } };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = extra_len ? 2 : 1 };
    return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* Fds the helper keeps across requests: the socket only (moved here). */
#define HELPER_SOCK 3

/* The helper's request loop. Every fd that arrives or is opened for a request is closed
 * before the next one, so nothing of one task's tree reaches the next request. */
static void helper_serve(void) __attribute__((noreturn));
static void helper_serve(void) {
    static char buf[sizeof(struct request) + S_COUNT * MAX_STRING];
    static char out[MAX_STRING];
    for (;;) {
        union { struct cmsghdr align; char bytes[CMSG_SPACE(3 * sizeof(int))]; } control;
        struct iovec iov = { buf, sizeof buf };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
                              .msg_controllen = sizeof control.bytes };
        ssize_t n = recvmsg(HELPER_SOCK, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) _exit(0); /* the agent closed its end (detach or exit) */
        int fds[3] = { -1, -1, -1 }, nfds = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int k = 0; k < count; k++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof fd);
                if (nfds < 3) fds[nfds++] = fd; else close(fd);
            }
        }
        struct request req;
        int error = 0;
        struct op op;
        memset(&op, 0, sizeof op);
        if ((size_t)n < sizeof req || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || nfds < 1) {
            error = EINVAL;
        } else {
            memcpy(&req, buf, sizeof req);
            const char *strings[S_COUNT] = { 0 };
            size_t at = sizeof req;
            for (int k = 0; k < S_COUNT && !error; k++) {
                uint32_t len = req.len[k];
                if (len == 0) continue;
                if (len > MAX_STRING || at + len > (size_t)n || buf[at + len - 1] != 0) { error = EINVAL; break; }
                strings[k] = buf + at;
                at += len;
            }
            op.kind = (enum op_kind)req.kind;
            op.root_fd = fds[0];
            op.dir_fd = fds[1];
            op.proc_fd = fds[2];
            op.target = strings[S_TARGET];
            op.source = strings[S_SOURCE];
            op.bind_source = strings[S_BIND_SOURCE];
            op.fstype = strings[S_FSTYPE];
            op.groups = strings[S_GROUPS];
            op.data = strings[S_DATA];
            op.flags = (unsigned long)req.flags;
            op.mode = req.mode;
            op.dev = req.dev;
            op.uid = req.uid;
            op.gid = req.gid;
            op.out = out;
            op.out_len = sizeof out;
            out[0] = 0;
            if (!error && op.kind == OP_PATH_OF && nfds < 2) error = EINVAL;
            if (!error) error = run_op(&op);
            if (error > 4095) error = EIO;
            reset_after_op();
        }
        syscall(SYS_close_range, HELPER_SOCK + 1, ~0U, 0);
        size_t out_len = (!error && op.kind == OP_PATH_OF) ? strlen(out) + 1 : 0;
        if (send_reply(HELPER_SOCK, n >= (ssize_t)sizeof req ? req.seq : 0, error, out, out_len) < 0) _exit(0);
    }
}

/* In the child: leave the agent behind and join the container. Returns 0 or an errno. */
static int helper_setup(int sock, pid_t agent, int userns_fd, int mntns_fd, int root_fd) {
    /* Non-dumpable first: from now on nobody without CAP_SYS_PTRACE in the initial user
     * namespace can ptrace it or open its /proc files, whatever namespaces it joins. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) return errno;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) return errno;
    if (getppid() != agent) return ESRCH;
    if (dup2(sock, HELPER_SOCK) < 0) return errno;
    if (userns_fd >= 0 && setns(userns_fd, CLONE_NEWUSER) < 0) return errno;
    if (setns(mntns_fd, CLONE_NEWNS) < 0) return errno;
    if (fchdir(root_fd) < 0 || chroot(".") < 0) return errno;
    umask(0); /* the agent applies the calling task's umask to the mode */
    /* Everything else is the agent's: other containers' notify fds, the listener, the log. */
    if (syscall(SYS_close_range, 0, HELPER_SOCK - 1, 0) < 0) return errno;
    if (syscall(SYS_close_range, HELPER_SOCK + 1, ~0U, 0) < 0) return errno;
    /* The helper runs a few C functions: unmap the rest of the agent's code it inherited. */
    cl_agent_release_code();
    return 0;
}

void cl_agent_helper_stop(struct cl_agent_helper *h) {
    if (h->pid <= 0) return;
    if (h->pidfd >= 0) syscall(SYS_pidfd_send_signal, h->pidfd, SIGKILL, NULL, 0);
    else kill(h->pid, SIGKILL);
    if (h->sock >= 0) close(h->sock);
    while (waitpid(h->pid, NULL, __WALL) < 0 && errno == EINTR) {}
    if (h->pidfd >= 0) close(h->pidfd);
    h->pid = -1;
    h->pidfd = -1;
    h->sock = -1;
}

int cl_agent_helper_running(struct cl_agent_helper *h) {
    if (h->pid <= 0) return 0;
    struct pollfd p = { .fd = h->pidfd, .events = POLLIN };
    if (poll(&p, 1, 0) != 0) { /* exited (or the pidfd is broken): reap it */
        cl_agent_helper_stop(h);
        return 0;
    }
    return 1;
}

static int64_t monotonic_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Waits for the helper's reply to `seq`. On timeout, death or a broken reply the helper
 * is killed and reaped (the next call starts a new one); its errno is returned, never 0. */
static int await_reply(struct cl_agent_helper *h, uint32_t seq, char *out, size_t out_len, int timeout_ms) {
    int64_t deadline = monotonic_ms() + timeout_ms;
    for (;;) {
        struct pollfd p[2] = { { .fd = h->sock, .events = POLLIN }, { .fd = h->pidfd, .events = POLLIN } };
        int64_t left = deadline - monotonic_ms();
        if (left < 0) left = 0;
        int r = poll(p, 2, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) { cl_agent_helper_stop(h); return ETIMEDOUT; }
        if (r < 0) { int e = errno; cl_agent_helper_stop(h); return e; }
        if (!(p[0].revents & POLLIN)) { cl_agent_helper_stop(h); return EIO; } /* died without answering */
        struct reply rep;
        char path[MAX_STRING];
        struct iovec iov[2] = { { &rep, sizeof rep }, { path, sizeof path } };
        struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
        ssize_t n = recvmsg(h->sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < (ssize_t)sizeof rep || rep.seq != seq || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
            cl_agent_helper_stop(h);
            return EIO;
        }
        if (rep.error < 0 || rep.error > 4095) { cl_agent_helper_stop(h); return EIO; }
        if (rep.error == 0 && out) {
            size_t len = (size_t)n - sizeof rep;
            if (len == 0 || len > out_len || path[len - 1] != 0) { cl_agent_helper_stop(h); return EIO; }
            memcpy(out, path, len);
        }
        return rep.error;
    }
}

int cl_agent_helper_start(struct cl_agent_helper *h, int userns_fd, int mntns_fd, int root_fd, int timeout_ms) {
    cl_agent_helper_stop(h);
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) return errno;
    pid_t agent = getpid();
    pid_t pid = fork();
    if (pid < 0) { int e = errno; close(pair[0]); close(pair[1]); return e; }
    if (pid == 0) {
        int e = helper_setup(pair[1], agent, userns_fd, mntns_fd, root_fd);
        /* The first message says whether the helper is in place. */
        int out = e ? pair[1] : HELPER_SOCK;
        if (send_reply(out, 0, e > 4095 ? EIO : e, NULL, 0) < 0 || e) _exit(1);
        helper_serve();
    }
    close(pair[1]);
    h->pid = pid;
    h->sock = pair[0];
    h->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (h->pidfd < 0) { int e = errno; cl_agent_helper_stop(h); return e; }
    int e = await_reply(h, 0, NULL, 0, timeout_ms);
    if (e) cl_agent_helper_stop(h);
    return e;
}

static uint32_t next_seq = 1;

/* Sends one request (strings[] as in S_*, NULL allowed) with the task's root and maybe a
 * directory fd (and a procfs fd), and waits for the answer. */
static int request(struct cl_agent_helper *h, struct request *req, const char *const strings[S_COUNT], int root_fd,
                   int dir_fd, int proc_fd, char *out, size_t out_len, int timeout_ms) {
    if (h->pid <= 0) return ECHILD;
    if (++next_seq == 0) next_seq = 1;
    req->seq = next_seq;
    struct iovec iov[1 + S_COUNT];
    int count = 0;
    iov[count++] = (struct iovec){ req, sizeof *req };
    for (int k = 0; k < S_COUNT; k++) {
        if (!strings[k]) { req->len[k] = 0; continue; }
        size_t len = strlen(strings[k]) + 1;
        if (len > MAX_STRING) return ENAMETOOLONG;
        req->len[k] = (uint32_t)len;
        iov[count++] = (struct iovec){ (void *)strings[k], len };
    }
    int fds[3] = { root_fd, dir_fd, proc_fd };
    int nfds = dir_fd < 0 ? 1 : proc_fd < 0 ? 2 : 3;
    union { struct cmsghdr align; char bytes[CMSG_SPACE(3 * sizeof(int))]; } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)count, .msg_control = control.bytes,
                          .msg_controllen = CMSG_SPACE(nfds * sizeof(int)) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    ssize_t sent;
    do { sent = sendmsg(h->sock, &msg, MSG_NOSIGNAL); } while (sent < 0 && errno == EINTR);
    if (sent < 0) { cl_agent_helper_stop(h); return EIO; }
    return await_reply(h, req->seq, out, out_len, timeout_ms);
}

int cl_agent_mount(struct cl_agent_helper *h, int root_fd, const char *target, const char *source,
                   const char *bind_source, const char *fstype, unsigned long flags, const void *data,
                   int device_fd, uint64_t dev, int proc_fd, int timeout_ms) {
    struct request req = { .kind = OP_MOUNT, .flags = flags, .dev = dev };
    const char *strings[S_COUNT] = { target, source, bind_source, fstype, (const char *)data };
    return request(h, &req, strings, root_fd, device_fd, device_fd >= 0 ? proc_fd : -1, NULL, 0, timeout_ms);
}

int cl_agent_umount(struct cl_agent_helper *h, int root_fd, const char *target, int flags, int timeout_ms) {
    struct request req = { .kind = OP_UMOUNT, .flags = (uint64_t)(unsigned int)flags };
    const char *strings[S_COUNT] = { target };
    return request(h, &req, strings, root_fd, -1, -1, NULL, 0, timeout_ms);
}

int cl_agent_mknod(struct cl_agent_helper *h, int root_fd, const char *path, unsigned int mode, uint64_t dev,
                   uint32_t uid, uint32_t gid, const char *groups, int timeout_ms) {
    struct request req = { .kind = OP_MKNOD, .mode = mode, .dev = dev, .uid = uid, .gid = gid };
    const char *strings[S_COUNT] = { path, NULL, NULL, NULL, NULL, groups };
    return request(h, &req, strings, root_fd, -1, -1, NULL, 0, timeout_ms);
}

int cl_agent_path_of(struct cl_agent_helper *h, int root_fd, int dir_fd, char *out, size_t len, int timeout_ms) {
    if (len == 0) return EINVAL;
    out[0] = 0;
    struct request req = { .kind = OP_PATH_OF };
    const char *strings[S_COUNT] = { 0 };
    return request(h, &req, strings, root_fd, dir_fd, -1, out, len, timeout_ms);
}

/* ---- the notifying task ---- */

long cl_agent_read_task_memory(int32_t pid, uint64_t address, void *buf, size_t len) {
    struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)address, len };
    long n = (long)process_vm_readv((pid_t)pid, &local, 1, &remote, 1, 0);
    if (n >= 0 || errno != ENOSYS) return n;
    /* A kernel without CONFIG_CROSS_MEMORY_ATTACH (the UML kernels built here): the same
     * read, by pid too, through /proc/PID/mem. */
    char path[32];
    snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    n = (long)pread(fd, buf, len, (off_t)address);
    int saved = errno;
    close(fd);
    errno = saved;
    return n;
}

int cl_agent_ns_inode(int dir_fd, const char *name, uint64_t *ino) {
    char link[64];
    ssize_t n = readlinkat(dir_fd, name, link, sizeof link - 1);
    if (n < 0) return -1;
    link[n] = 0;
    /* "mnt:[4026531841]": the kind, then the inode number in brackets. */
    const char *open = strchr(link, '[');
    if (!open || open[1] < '0' || open[1] > '9') { errno = EINVAL; return -1; }
    char *end;
    unsigned long long value = strtoull(open + 1, &end, 10);
    if (end[0] != ']' || end[1] != 0) { errno = EINVAL; return -1; }
    *ino = value;
    return 0;
}

/* ---- mknod made by the agent itself, where nothing can block it ---- */

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif
#ifndef SYS_statmount
#define SYS_statmount 457
#endif
#define NS_GET_MNTNS_ID_REQUEST _IOR(0xb7, 0x5, uint64_t)
#define STATMOUNT_SB_BASIC_REQUEST 0x1U
#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif

/* struct mnt_id_req, version 1 (with the mount namespace's id, Linux 6.11+). */
struct agent_mnt_id_req { uint32_t size, spare; uint64_t mnt_id, param, mnt_ns_id; };

/* Whether the mount with unique id `id` in the namespace `mntns_fd` holds a tmpfs or ramfs:
 * asked of the mount table (statmount), never of the file system itself. */
static int memory_fs_mount(int mntns_fd, uint64_t id) {
    uint64_t ns = 0;
    if (ioctl(mntns_fd, NS_GET_MNTNS_ID_REQUEST, &ns) < 0) return 0;
    struct agent_mnt_id_req req = { .size = sizeof req, .mnt_id = id, .param = STATMOUNT_SB_BASIC_REQUEST, .mnt_ns_id = ns };
    /* struct statmount: size, spare, mask, sb_dev_major/minor, sb_magic, ... */
    static uint64_t buf[128];
    if (syscall(SYS_statmount, &req, buf, sizeof buf, 0) < 0) return 0;
    if (!(buf[1] & STATMOUNT_SB_BASIC_REQUEST)) return 0;
    return buf[3] == TMPFS_MAGIC || buf[3] == RAMFS_MAGIC;
}

/* The agent's own credentials, to return to after acting as a caller. */
static struct {
    int loaded, ngroups;
    gid_t groups[NGROUPS_MAX];
    struct __user_cap_data_struct caps[2];
    /* Root in all three uids, fsuid and fsgid 0, every permitted capability effective and the
     * kernel's setuid fix-ups on: an effective uid other than 0 then leaves no capability
     * effective, and 0 again brings back exactly the agent's, in one change each way
     * (capabilities(7), "Effect of user ID changes on capabilities"). */
    int euid_switch;
} own;

static int load_own_credentials(void) {
    if (own.loaded) return 0;
    int n = getgroups(NGROUPS_MAX, own.groups);
    if (n < 0) return -1;
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    if (syscall(SYS_capget, &header, own.caps) < 0) return -1;
    own.ngroups = n;
    uid_t r, e, s;
    int bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
    own.euid_switch = getresuid(&r, &e, &s) == 0 && r == 0 && e == 0 && s == 0 &&
        (uid_t)setfsuid((uid_t)-1) == 0 && (gid_t)setfsgid((gid_t)-1) == 0 &&
        bits >= 0 && !(bits & (1 << 2)) /* SECURE_NO_SETUID_FIXUP */ &&
        own.caps[0].effective == own.caps[0].permitted && own.caps[1].effective == own.caps[1].permitted;
    own.loaded = 1;
    return 0;
}

/* Whether the kernel's group checks (in_group_p: the fsgid, then the supplementary groups)
 * come out the same for a caller with fsgid `gid` and `groups` as for the agent with fsgid
 * `gid` and its own groups: then setgroups is left out (each credential change costs a few
 * microseconds: new creds, freed after RCU). */
static int same_group_checks(gid_t gid, const gid_t *groups, size_t ngroups) {
    for (size_t k = 0; k < ngroups; k++) {
        if (groups[k] == gid) continue;
        int found = 0;
        for (int j = 0; !found && j < own.ngroups; j++) found = own.groups[j] == groups[k];
        if (!found) return 0;
    }
    for (int j = 0; j < own.ngroups; j++) {
        if (own.groups[j] == gid) continue;
        int found = 0;
        for (size_t k = 0; !found && k < ngroups; k++) found = groups[k] == own.groups[j];
        if (!found) return 0;
    }
    return 1;
}

static int effective_caps_are(uint32_t low, uint32_t high) {
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct caps[2];
    if (syscall(SYS_capget, &header, caps) < 0) return 0;
    return caps[0].effective == low && caps[1].effective == high;
}

/* As the caller: fsgid, groups (unless equivalent), fsuid, and no effective capability but
 * CAP_MKNOD for a device node. 0, or -1 with the agent's credentials restored. */
struct switched { uid_t fsuid; gid_t fsgid; mode_t mask; int groups_changed, by_euid; };

static void restore_own_credentials(const struct switched *sw);

static int switch_to_caller(struct switched *sw, uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups, int device) {
    sw->groups_changed = !same_group_checks(gid, groups, ngroups);
    /* With the caller's fsuid 0 the effective uid would not change: capset drops the rest. */
    sw->by_euid = own.euid_switch && uid != 0;
    sw->mask = umask(0);
    if (sw->groups_changed && setgroups(ngroups, groups) < 0) { umask(sw->mask); return -1; }
    sw->fsgid = (gid_t)setfsgid(gid);
    if (sw->by_euid) {
        sw->fsuid = 0;
        if (setresuid((uid_t)-1, uid, (uid_t)-1) < 0) { sw->by_euid = 0; sw->fsuid = (uid_t)setfsuid((uid_t)-1); goto fail; }
    } else {
        sw->fsuid = (uid_t)setfsuid(uid);
    }
    if ((uid_t)setfsuid((uid_t)-1) != uid || (gid_t)setfsgid((gid_t)-1) != gid) goto fail;
    uint32_t wanted = device ? 1U << CAP_MKNOD : 0;
    if (sw->by_euid && !device) {
        if (!effective_caps_are(0, 0)) goto fail;
        return 0;
    }
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct caps[2] = { own.caps[0], own.caps[1] };
    caps[0].effective = wanted;
    caps[1].effective = 0;
    if (syscall(SYS_capset, &header, caps) < 0) goto fail;
    return 0;
fail:
    restore_own_credentials(sw);
    return -1;
}

/* Back to the agent's credentials; an agent that cannot get back stops rather than go on
 * with a caller's identity. */
static void restore_own_credentials(const struct switched *sw) {
    if (sw->by_euid) {
        /* Effective uid 0 again: fsuid 0 and the effective set back to the permitted one. */
        if (setresuid((uid_t)-1, 0, (uid_t)-1) < 0) abort();
        if (!effective_caps_are(own.caps[0].effective, own.caps[1].effective)) abort();
    } else {
        struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
        struct __user_cap_data_struct caps[2] = { own.caps[0], own.caps[1] };
        if (syscall(SYS_capset, &header, caps) < 0) abort();
        setfsuid(sw->fsuid);
    }
    setfsgid(sw->fsgid);
    if ((uid_t)setfsuid((uid_t)-1) != sw->fsuid || (gid_t)setfsgid((gid_t)-1) != sw->fsgid) abort();
    if (sw->groups_changed && setgroups((size_t)own.ngroups, own.groups) < 0) abort();
    uid_t r, e, s;
    if (sw->by_euid && (getresuid(&r, &e, &s) < 0 || r != 0 || e != 0 || s != 0)) abort();
    umask(sw->mask);
}

int cl_agent_mknod_here(int root_fd, int mntns_fd, const char *path, unsigned int mode, uint64_t dev,
                        uint32_t uid, uint32_t gid, const uint32_t *groups, size_t ngroups,
                        const uint64_t *known, size_t known_count, uint64_t *learned) {
    *learned = 0;
    if (ngroups > NGROUPS_MAX || load_own_credentials() < 0) return -1;
    if (!(own.caps[0].permitted & (1U << CAP_MKNOD))) return -1;
    const char *slash = strrchr(path, '/');
    if (path[0] != '/' || !slash || !slash[1]) return -1;
    char parent[MAX_STRING];
    size_t n = (size_t)(slash - path);
    if (n >= sizeof parent) return -1;
    memcpy(parent, path, n);
    parent[n] = 0;
    const char *name = slash + 1;

    /* As the caller, as the helper would act (see run_op, OP_MKNOD). */
    static gid_t list[NGROUPS_MAX];
    for (size_t k = 0; k < ngroups; k++) list[k] = (gid_t)groups[k];
    struct switched sw;
    if (switch_to_caller(&sw, uid, gid, list, ngroups, S_ISCHR(mode) || S_ISBLK(mode)) < 0) return -1;
    int result = -1;
    /* Only what the dentry cache holds (RESOLVE_CACHED): a lookup that would ask the file
     * system (a FUSE server in the container could make it wait forever) fails instead. */
    const char *relative = parent;
    while (*relative == '/') relative++;
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_CACHED;
    int dir = (int)syscall(SYS_openat2, root_fd, *relative ? relative : ".", &how, sizeof how);
    if (dir < 0) goto out;
    /* The mount's unique id from the VFS (AT_STATX_DONT_SYNC: a FUSE server is not asked). */
    struct statx sx;
    uint64_t mount = 0;
    if (statx(dir, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID_UNIQUE, &sx) == 0 &&
        (sx.stx_mask & STATX_MNT_ID_UNIQUE))
        mount = sx.stx_mnt_id;
    int memory = 0;
    for (size_t k = 0; mount && k < known_count; k++) if (known[k] == mount) memory = 1;
    /* tmpfs and ramfs never wait for anyone; anything else is the helper's. */
    if (memory) result = mknodat(dir, name, mode, (dev_t)dev) < 0 ? errno : 0;
    close(dir);
    if (!memory && mount) {
        restore_own_credentials(&sw);
        if (memory_fs_mount(mntns_fd, mount)) *learned = mount;
        return -1;
    }
out:
    restore_own_credentials(&sw);
    if (result > 4095) result = EIO;
    return result;
}

int cl_agent_open_beneath(int dirfd, const char *path, int flags) {
    /* An absolute path names the same place below dirfd; "/" is dirfd itself. */
    while (*path == '/') path++;
    if (!*path) path = ".";
    return cl_openat2_beneath(dirfd, path, flags);
}

int cl_agent_open_procfs(void) {
    int fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct statfs fs;
    if (fstatfs(fd, &fs) < 0 || fs.f_type != PROC_SUPER_MAGIC) { close(fd); errno = ENOENT; return -1; }
    return fd;
}

int cl_agent_block_device(int fd, uint32_t *major_out, uint32_t *minor_out) {
    struct stat st;
    if (fstat(fd, &st) < 0) return -1;
    if (!S_ISBLK(st.st_mode)) { errno = ENOTBLK; return -1; }
    *major_out = major(st.st_rdev);
    *minor_out = minor(st.st_rdev);
    return 0;
}
