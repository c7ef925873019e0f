#ifndef CL_PROCESS_H
#define CL_PROCESS_H
#include <stdint.h>
#include <sys/types.h>
#include <signal.h>

/* clone3(2) with a fork-like return (0 in the child, the pid in the parent, -1 on error).
 * No new stack: the child continues on a copy of the parent's, as with fork(2).
 * pidfd receives a pidfd for the child when not NULL; cgroup_fd >= 0 adds CLONE_INTO_CGROUP. */
pid_t cl_clone3(uint64_t flags, int *pidfd, int cgroup_fd);
/* The same through clone(2), for kernels (or seccomp policies) without clone3: ENOSYS.
 * Only the low 32 flag bits exist there; pidfd as above (CLONE_PIDFD, Linux 5.2). */
pid_t cl_clone_legacy(uint64_t flags, int *pidfd);

int cl_pidfd_open(pid_t pid);
int cl_pidfd_send_signal(int pidfd, int sig);
/* pidfd_getfd(2) (Linux 5.6): a duplicate, close-on-exec, of fd `target` of the process. */
int cl_pidfd_getfd(int pidfd, int target);
/* close_range(2): first..last, flags (CLOSE_RANGE_CLOEXEC). */
int cl_close_range(unsigned int first, unsigned int last, unsigned int flags);

/* keyctl(KEYCTL_JOIN_SESSION_KEYRING): a fresh session keyring per container. */
long cl_join_session_keyring(const char *name);
/* PR_SET_PDEATHSIG etc. go through cl_prctl; signal-set helpers are macros in glibc. */
int cl_sigset_fill_forwardable(sigset_t *set);

/* --- Added by the process-setup facility below this line --- */
/* sched_setattr(2)/sched_getattr(2) have no glibc wrapper; the struct is passed as fields. */
int cl_sched_setattr(pid_t pid, uint32_t policy, uint64_t flags, int32_t nice, uint32_t priority,
                     uint64_t runtime, uint64_t deadline, uint64_t period);
int cl_sched_getattr(pid_t pid, uint32_t *policy, uint64_t *flags, int32_t *nice, uint32_t *priority,
                     uint64_t *runtime, uint64_t *deadline, uint64_t *period);
/* ioprio_set(2)/ioprio_get(2) have no glibc wrapper. */
int cl_ioprio_set(int which, int who, int ioprio);
int cl_ioprio_get(int which, int who);
/* Raw sched_{set,get}affinity with a mask of any size (cpu_set_t is fixed at 1024 CPUs).
 * get returns the number of bytes the kernel filled, or -1. */
/* set_mempolicy(2) has no glibc wrapper (libnuma has one); nodes as 64-bit words. */
int cl_set_mempolicy(int mode, const uint64_t *words, size_t count);
int cl_sched_setaffinity_words(pid_t pid, const uint64_t *words, size_t count);
/* The CPU the caller runs on, or -1. */
int cl_getcpu(void);
int cl_sched_getaffinity_words(pid_t pid, uint64_t *words, size_t count);
/* prlimit(2) takes an enum resource and a struct; pid 0 is the caller. */
int cl_prlimit(pid_t pid, int resource, uint64_t soft, uint64_t hard);
int cl_getrlimit_pid(pid_t pid, int resource, uint64_t *soft, uint64_t *hard);
/* For a child about to execve: every signal back to SIG_DFL and nothing blocked, since
 * ignored signals and the signal mask survive execve. Async-signal-safe. */
void cl_reset_signals(void);
/* openat2(2) confined below dirfd, refusing every symlink (fails with ENOSYS before Linux 5.6). */
int cl_openat2_beneath(int dirfd, const char *path, int flags);
/* cl_openat2_beneath that also crosses no mount point: for files below a verified procfs,
 * where something mounted over a file would redirect the write. */
int cl_openat2_procfs(int dirfd, const char *path, int flags);
/* openat2(2) with dirfd as "/": symlinks and ".." never lead out of it (a rootfs). */
int cl_openat2_in_root(int dirfd, const char *path, int flags);

#endif
