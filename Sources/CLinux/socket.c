#include "clinux.h"

static int fill_unix_address(struct sockaddr_un *addr, const char *path) {
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(addr->sun_path)) {
        errno = n == 0 ? EINVAL : ENAMETOOLONG;
        return -1;
    }
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, path, n + 1);
    return 0;
}

int cl_unix_connect(int sock, const char *path) {
    struct sockaddr_un addr;
    if (fill_unix_address(&addr, path) < 0) return -1;
    int rc;
    do rc = connect(sock, (struct sockaddr *)&addr, sizeof(addr));
    while (rc < 0 && errno == EINTR);
    return rc;
}

int cl_unix_bind(int sock, const char *path) {
    struct sockaddr_un addr;
    if (fill_unix_address(&addr, path) < 0) return -1;
    return bind(sock, (struct sockaddr *)&addr, sizeof(addr));
}

ssize_t cl_send_fd(int sock, int fd, const void *data, size_t len) {
    /* A stream socket carries no fd without at least one byte of data. */
    char dummy = 0;
    struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
    if (len == 0) { iov.iov_base = &dummy; iov.iov_len = 1; }
    union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int))]; } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (fd >= 0) {
        memset(&control, 0, sizeof(control));
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof(control.buf);
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    }
    ssize_t n;
    do n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n;
}

ssize_t cl_recv_fd(int sock, void *buf, size_t len, int *fd) {
    *fd = -1;
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    /* Room for several fds, so extras arrive (and get closed) instead of truncating. */
    union { struct cmsghdr align; char buf[CMSG_SPACE(16 * sizeof(int))]; } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = control.buf, .msg_controllen = sizeof(control.buf) };
    ssize_t n;
    do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0) return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int received;
            memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (*fd < 0) *fd = received;
            else close(received);
        }
    }
    if (msg.msg_flags & MSG_CTRUNC) {
        if (*fd >= 0) close(*fd);
        *fd = -1;
        errno = EBADMSG;
        return -1;
    }
    return n;
}
