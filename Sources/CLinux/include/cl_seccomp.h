#ifndef CL_SECCOMP_H
#define CL_SECCOMP_H
#include <stdint.h>
#include <sys/types.h>
#include <seccomp.h>

/* seccomp(2) has no glibc wrapper. `args` is whatever the operation takes
 * (a uint32_t action for SECCOMP_GET_ACTION_AVAIL, NULL to probe a flag). */
int cl_seccomp(unsigned int op, unsigned int flags, void *args);

/* Installs a classic BPF filter of `count` 8-byte instructions (struct sock_filter)
 * with seccomp(SECCOMP_SET_MODE_FILTER, flags); falls back to prctl(PR_SET_SECCOMP)
 * on kernels without seccomp(2) when no flags are needed.
 * Returns the notify fd with SECCOMP_FILTER_FLAG_NEW_LISTENER, else 0; -1 and errno on failure. */
int cl_seccomp_install(unsigned int flags, const void *instructions, unsigned short count);

/* SECCOMP_IOCTL_NOTIF_ID_VALID is an _IOW() macro; lets callers (and tests) tell a
 * seccomp notify fd from any other fd: ENOENT for an unknown id, ENOTTY elsewhere. */
int cl_seccomp_notify_id_valid(int fd, uint64_t id);

#endif
