#ifndef CL_SOCKET_H
#define CL_SOCKET_H
#include <stdint.h>
#include <sys/types.h>

/* struct sockaddr_un's char array is awkward in Swift. Both fail with ENAMETOOLONG
 * when `path` does not fit sun_path (108 bytes with the NUL). */
int cl_unix_connect(int sock, const char *path);
int cl_unix_bind(int sock, const char *path);

/* sendmsg(2) of `len` bytes with one fd in SCM_RIGHTS (fd < 0: none), MSG_NOSIGNAL.
 * Returns the bytes sent or -1 with errno. */
ssize_t cl_send_fd(int sock, int fd, const void *data, size_t len);

/* recvmsg(2) of up to `len` bytes; an fd in SCM_RIGHTS lands in *fd (-1 if none),
 * received with MSG_CMSG_CLOEXEC. Any further fds are closed, and a truncated
 * control message fails with EBADMSG, so a hostile peer cannot plant fds in us.
 * Returns the bytes received (0 at end of stream) or -1 with errno. */
ssize_t cl_recv_fd(int sock, void *buf, size_t len, int *fd);
#endif
