#include "clinux.h"
#include <linux/sched.h>
#include <linux/close_range.h>

pid_t cl_clone3(uint64_t flags, int *pidfd, int cgroup_fd) {
    struct clone_args args;
    memset(&args, 0, sizeof(args));
    args.flags = flags;
    args.exit_signal = SIGCHLD;
    if (pidfd) {
        args.flags |= CLONE_PIDFD;
        args.pidfd = (uint64_t)(uintptr_t)pidfd;
    }
    if (cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t)cgroup_fd;
    }
    return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

pid_t cl_clone_legacy(uint64_t flags, int *pidfd) {
    unsigned long f = (unsigned long)(uint32_t)flags | SIGCHLD;
    if (pidfd) f |= CLONE_PIDFD;
    /* parent_tid is the third argument on every architecture's clone ABI; with CLONE_PIDFD
     * the kernel stores the pidfd there. NULL stack: fork-like, the child shares nothing. */
    return (pid_t)syscall(SYS_clone, f, NULL, pidfd, NULL, NULL);
}

int cl_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
int cl_pidfd_send_signal(int pidfd, int sig) { return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0); }
int cl_pidfd_getfd(int pidfd, int target) { return (int)syscall(SYS_pidfd_getfd, pidfd, target, 0); }
int cl_close_range(unsigned int first, unsigned int last, unsigned int flags) {
    return (int)syscall(SYS_close_range, first, last, flags);
}

long cl_join_session_keyring(const char *name) { return syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, name, 0, 0, 0); }

/* The signals a foreground `run` forwards to the container and that abort a `create`. */
int cl_sigset_fill_forwardable(sigset_t *set) {
    static const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGPIPE, SIGALRM};
    sigemptyset(set);
    for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) sigaddset(set, sigs[i]);
    return 0;
}

/* --- Added by the process-setup facility below this line --- */

#include <linux/openat2.h>

/* Layout of the kernel's struct sched_attr (SCHED_ATTR_SIZE_VER1); named apart from
 * glibc >= 2.41, which declares struct sched_attr itself. */
struct cl_sched_attr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
    uint32_t sched_util_min;
    uint32_t sched_util_max;
};

int cl_sched_setattr(pid_t pid, uint32_t policy, uint64_t flags, int32_t nice, uint32_t priority,
                     uint64_t runtime, uint64_t deadline, uint64_t period) {
    struct cl_sched_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.size = sizeof(attr);
    attr.sched_policy = policy;
    attr.sched_flags = flags;
    attr.sched_nice = nice;
    attr.sched_priority = priority;
    attr.sched_runtime = runtime;
    attr.sched_deadline = deadline;
    attr.sched_period = period;
    return (int)syscall(SYS_sched_setattr, pid, &attr, 0);
}

int cl_sched_getattr(pid_t pid, uint32_t *policy, uint64_t *flags, int32_t *nice, uint32_t *priority,
                     uint64_t *runtime, uint64_t *deadline, uint64_t *period) {
    struct cl_sched_attr attr;
    memset(&attr, 0, sizeof(attr));
    if (syscall(SYS_sched_getattr, pid, &attr, sizeof(attr), 0) != 0) return -1;
    *policy = attr.sched_policy;
    *flags = attr.sched_flags;
    *nice = attr.sched_nice;
    *priority = attr.sched_priority;
    *runtime = attr.sched_runtime;
    *deadline = attr.sched_deadline;
    *period = attr.sched_period;
    return 0;
}

int cl_ioprio_set(int which, int who, int ioprio) { return (int)syscall(SYS_ioprio_set, which, who, ioprio); }
int cl_ioprio_get(int which, int who) { return (int)syscall(SYS_ioprio_get, which, who); }

int cl_set_mempolicy(int mode, const uint64_t *words, size_t count) {
    /* The kernel reads maxnode - 1 bits. */
    return (int)syscall(SYS_set_mempolicy, mode, count ? words : NULL, count ? count * 64 + 1 : 0);
}
int cl_sched_setaffinity_words(pid_t pid, const uint64_t *words, size_t count) {
    return (int)syscall(SYS_sched_setaffinity, pid, count * sizeof(uint64_t), words);
}
int cl_sched_getaffinity_words(pid_t pid, uint64_t *words, size_t count) {
    return (int)syscall(SYS_sched_getaffinity, pid, count * sizeof(uint64_t), words);
}
int cl_getcpu(void) {
    unsigned cpu = 0;
    return syscall(SYS_getcpu, &cpu, NULL, NULL) == 0 ? (int)cpu : -1;
}

int cl_prlimit(pid_t pid, int resource, uint64_t soft, uint64_t hard) {
    struct rlimit limit = { .rlim_cur = soft, .rlim_max = hard };
    return prlimit(pid, resource, &limit, NULL);
}
int cl_getrlimit_pid(pid_t pid, int resource, uint64_t *soft, uint64_t *hard) {
    struct rlimit limit;
    if (prlimit(pid, resource, NULL, &limit) != 0) return -1;
    *soft = limit.rlim_cur;
    *hard = limit.rlim_max;
    return 0;
}

void cl_reset_signals(void) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        sigaction(sig, &action, NULL);   /* fails harmlessly for glibc-reserved signals */
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

int cl_openat2_beneath(int dirfd, const char *path, int flags) {
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

int cl_openat2_procfs(int dirfd, const char *path, int flags) {
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

int cl_openat2_in_root(int dirfd, const char *path, int flags) {
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}
