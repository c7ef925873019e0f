#include "clinux.h"
#include <linux/filter.h>

int cl_seccomp(unsigned int op, unsigned int flags, void *args) {
    return (int)syscall(SYS_seccomp, op, flags, args);
}

int cl_seccomp_install(unsigned int flags, const void *instructions, unsigned short count) {
    struct sock_fprog prog = { .len = count, .filter = (struct sock_filter *)instructions };
    int rc = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    if (rc < 0 && errno == ENOSYS && flags == 0)
        rc = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
    return rc;
}

int cl_seccomp_notify_id_valid(int fd, uint64_t id) {
    return ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id);
}
