/* Runs a command under a seccomp filter that makes the kernel refuse what a degraded
 * kernel lacks, for real: the calls fail in the kernel, nothing in the command is told.
 *
 *   refuse namespaces -- CMD ARGS...   clone3 fails with ENOSYS (as on kernels before 5.3),
 *                                      clone/unshare with any CLONE_NEW* flag and setns fail
 *                                      with EPERM (as without namespace support or privilege)
 *   refuse pidfd -- CMD ARGS...        pidfd_open, pidfd_send_signal and clone3 fail with ENOSYS,
 *                                      clone with CLONE_PIDFD with EINVAL (kernels before 5.2)
 *   refuse crossmem -- CMD ARGS...     process_vm_readv and process_vm_writev fail with ENOSYS
 *                                      (kernels without CONFIG_CROSS_MEMORY_ATTACH)
 *   refuse xstate -- CMD ARGS...       ptrace(PTRACE_GETREGSET, NT_X86_XSTATE) fails with EIO:
 *                                      User Mode Linux 6.1 then saves FP registers with
 *                                      PTRACE_GETFPREGS, which hosts with a large XSAVE area
 *                                      (AVX-512, AMX) still accept
 *
 * Build: cc -O2 -o refuse refuse.c -lseccomp
 */
#define _GNU_SOURCE
#include <errno.h>
#include <seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

static int refuse_namespaces(scmp_filter_ctx ctx) {
    static const unsigned long clone_flags[] = {CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                                                CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET};
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(setns), 0);
    for (unsigned i = 0; i < sizeof(clone_flags) / sizeof(clone_flags[0]); i++) {
        unsigned long f = clone_flags[i];
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
    }
    /* For clone(2) the low byte is the exit signal; only unshare(2) knows CLONE_NEWTIME. */
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
                           SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWTIME, CLONE_NEWTIME));
    return rc;
}

static int refuse_pidfd(scmp_filter_ctx ctx) {
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(pidfd_open), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(pidfd_send_signal), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EINVAL), SCMP_SYS(clone), 1,
                           SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_PIDFD, CLONE_PIDFD));
    return rc;
}

static int refuse_crossmem(scmp_filter_ctx ctx) {
    return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(process_vm_readv), 0)
        | seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(process_vm_writev), 0);
}

static int refuse_xstate(scmp_filter_ctx ctx) {
    return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EIO), SCMP_SYS(ptrace), 2,
                            SCMP_A0(SCMP_CMP_EQ, PTRACE_GETREGSET), SCMP_A2(SCMP_CMP_EQ, NT_X86_XSTATE));
}

int main(int argc, char **argv) {
    if (argc < 4 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "usage: refuse namespaces|pidfd|crossmem|xstate -- CMD [ARGS...]\n");
        return 2;
    }
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) { fprintf(stderr, "refuse: seccomp_init failed\n"); return 1; }
    /* Root installs the filter without no_new_privs: the command keeps its usual rights. */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    int rc;
    if (strcmp(argv[1], "namespaces") == 0) rc = refuse_namespaces(ctx);
    else if (strcmp(argv[1], "pidfd") == 0) rc = refuse_pidfd(ctx);
    else if (strcmp(argv[1], "crossmem") == 0) rc = refuse_crossmem(ctx);
    else if (strcmp(argv[1], "xstate") == 0) rc = refuse_xstate(ctx);
    else { fprintf(stderr, "refuse: unknown mode %s\n", argv[1]); return 2; }
    if (rc != 0 || (rc = seccomp_load(ctx)) != 0) {
        fprintf(stderr, "refuse: loading the filter failed: %s\n", strerror(rc < 0 ? -rc : rc));
        return 1;
    }
    seccomp_release(ctx);
    execvp(argv[3], argv + 3);
    fprintf(stderr, "refuse: exec %s: %s\n", argv[3], strerror(errno));
    return 127;
}
