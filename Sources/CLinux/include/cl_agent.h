#ifndef CL_AGENT_H
#define CL_AGENT_H
#include <stdint.h>
#include <sys/types.h>

/* The seccomp access-control agent (`swiftlet agent`). Decisions are made in Swift;
 * this file only holds what Swift cannot express: ioctls on the notify fd (structs and
 * _IOWR macros), packed epoll_event, signal sets, and the helper process that acts
 * inside a container's namespaces. */

/* SECCOMP_IOCTL_NOTIF_RECV into fields; args holds 6 values. The kernel's struct may be
 * larger than our header's, so the buffer is sized with SECCOMP_GET_NOTIF_SIZES. */
int cl_agent_notif_recv(int fd, uint64_t *id, uint32_t *pid, int32_t *nr, uint32_t *arch, uint64_t *args);
/* SECCOMP_IOCTL_NOTIF_SEND: `error` is 0 or a negative errno; flags may hold
 * SECCOMP_USER_NOTIF_FLAG_CONTINUE (then val and error must be 0). */
int cl_agent_notif_send(int fd, uint64_t id, int64_t val, int32_t error, uint32_t flags);
/* SECCOMP_IOCTL_NOTIF_ID_VALID: 0 while the notifying task still waits for this answer. */
int cl_agent_notif_id_valid(int fd, uint64_t id);
/* SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6+): the notifying task and the agent wake
 * each other on the current CPU. 0, or -1 and errno (EINVAL before 6.6). */
int cl_agent_notif_sync_wakeup(int fd);
uint32_t cl_agent_user_notif_flag_continue(void);

/* epoll_event is packed on x86_64. */
int cl_agent_epoll_add(int ep, int fd, uint32_t events, uint64_t data);
int cl_agent_epoll_del(int ep, int fd);
/* Fills data[i]/events[i]; returns the count, or -1 with errno. */
int cl_agent_epoll_wait(int ep, uint64_t *data, uint32_t *events, int max, int timeout_ms);

/* Blocks SIGHUP, SIGINT, SIGTERM and returns a signalfd (nonblocking, cloexec) for them.
 * SIGPIPE is ignored: a log on a closed pipe must not kill the agent. */
int cl_agent_signalfd(void);
/* The next pending signal number from the signalfd, 0 if none, -1 on error. */
int cl_agent_signalfd_next(int fd);

/* Unmaps the executable's code pages (MADV_DONTNEED: they stay in the page cache and
 * come back on use), so that resident memory is the code actually running, not the
 * neighbours the kernel mapped in around each fault or what start-up needed once. */
void cl_agent_release_code(void);
/* The same, then poll(2) from here: the code that waits is the only code that comes back
 * until an event arrives (returning to the caller first would fault its pages in again). */
int cl_agent_release_code_and_poll(struct pollfd *fds, nfds_t count, int timeout);

/* SO_PEERCRED of a connected unix socket. */
int cl_agent_peer_credentials(int sock, int32_t *pid, uint32_t *uid);
/* Namespace ioctls (ioctl_ns(2)) for a rootless caller's namespaces: the owner uid of a
 * user namespace; the user namespace owning a namespace, and a user namespace's parent,
 * as new fds (-1 and errno on failure; EPERM for the parent of one's own root). */
int cl_agent_ns_owner_uid(int userns_fd, uint32_t *uid);
int cl_agent_ns_owning_userns(int ns_fd);
int cl_agent_ns_parent(int userns_fd);

/* The helper that acts for a container: a child of the agent, forked once per container
 * (per kind: with or without its user namespace), non-dumpable, killed when the agent
 * dies (PDEATHSIG), that setns()es into the container's user namespace (userns_fd >= 0)
 * and mount namespace and then serves requests over a SOCK_SEQPACKET pair. Each request
 * carries the calling task's root (and a directory) as fds; the helper chroots to that
 * root, resolves the path (absolute, normalized by the caller) below it refusing every
 * symlink, and makes the call through fds, so a container changing its tree meanwhile
 * cannot redirect it. A helper that does not answer within timeout_ms is killed and
 * reaped, as is one that dies or answers out of turn: the call then fails (ETIMEDOUT,
 * EIO), and pid becomes -1 so that the next call starts a new helper. */
struct cl_agent_helper {
    int32_t pid;
    int32_t pidfd;
    int32_t sock;
};
/* Starts a helper in the given namespaces; 0 or an errno (the child's setup error). */
int cl_agent_helper_start(struct cl_agent_helper *h, int userns_fd, int mntns_fd, int root_fd, int timeout_ms);
/* 1 while it runs; reaps a helper that exited and returns 0. */
int cl_agent_helper_running(struct cl_agent_helper *h);
/* Kills and reaps it (no-op when pid <= 0). */
void cl_agent_helper_stop(struct cl_agent_helper *h);

/* Requests to a running helper. Return 0 on success, else a positive errno. */
/* device_fd >= 0: a disk file system mounted from that block device (whose rdev must be
 * `dev`), named through proc_fd (the agent's procfs) rather than by the source path. */
int cl_agent_mount(struct cl_agent_helper *h, int root_fd, const char *target, const char *source,
                   const char *bind_source, const char *fstype, unsigned long flags, const void *data,
                   int device_fd, uint64_t dev, int proc_fd, int timeout_ms);
int cl_agent_umount(struct cl_agent_helper *h, int root_fd, const char *target, int flags, int timeout_ms);
/* Creates the node with `mode` (type and permission bits, umask already applied) as the
 * calling process would: with its fsuid:fsgid and supplementary `groups` (host ids,
 * decimal, space-separated) and CAP_MKNOD as the only effective capability, so the
 * kernel's own permission checks on the path and the parent directory apply. */
int cl_agent_mknod(struct cl_agent_helper *h, int root_fd, const char *path, unsigned int mode, uint64_t dev,
                   uint32_t uid, uint32_t gid, const char *groups, int timeout_ms);
/* The same, made by the agent itself (no helper round trip) when the parent directory is
 * in the dentry cache (RESOLVE_CACHED) on a tmpfs or ramfs mount, where neither the lookup
 * nor the mknod can wait for anyone (a FUSE server of the container could make a helper
 * hang, which its timeout handles; the agent has none). The caller checks the notification
 * right before. `path` is absolute and normalized; groups are host gids. The agent's own
 * credentials are restored after (it aborts if it cannot). Returns 0 or a positive errno
 * (the call's answer), or -1: not made, ask the helper. known: unique mount ids
 * (STATX_MNT_ID_UNIQUE, never reused) found to be tmpfs/ramfs before; *learned: one found
 * now (asked of the mount table by statmount, never of the file system), else 0. */
int cl_agent_mknod_here(int root_fd, int mntns_fd, const char *path, unsigned int mode, uint64_t dev,
                        uint32_t uid, uint32_t gid, const uint32_t *groups, size_t ngroups,
                        const uint64_t *known, size_t known_count, uint64_t *learned);
/* Up to len bytes of task pid's memory at address (process_vm_readv; /proc/PID/mem on kernels
 * without it): the byte count, or -1.
 * By pid: whoever reads must check the notification afterwards (a pid reused meanwhile
 * means the notifying task died, and its notification is no longer valid). */
long cl_agent_read_task_memory(int32_t pid, uint64_t address, void *buf, size_t len);
/* The inode number of namespace link `name` below dir_fd (a /proc/PID directory), read from
 * the link ("mnt:[N]"): cheaper than a stat through it, and on nsfs, whose st_dev all
 * namespaces share. 0 or -1. */
int cl_agent_ns_inode(int dir_fd, const char *name, uint64_t *ino);
/* The path of dir_fd as seen from root_fd (the container's view of a cwd or dirfd),
 * into out (NUL-terminated). */
int cl_agent_path_of(struct cl_agent_helper *h, int root_fd, int dir_fd, char *out, size_t len, int timeout_ms);

/* openat2 of `path` (absolute in the container, normalized) below dirfd without
 * symlinks or magic links, as the helper resolves paths. */
int cl_agent_open_beneath(int dirfd, const char *path, int flags);
/* /proc as O_PATH, checked to be a procfs; -1 with errno otherwise. */
int cl_agent_open_procfs(void);
/* Major and minor of a block device fd; -1 with ENOTBLK for anything else. */
int cl_agent_block_device(int fd, uint32_t *major_out, uint32_t *minor_out);

#endif
