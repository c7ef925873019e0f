/* Sets or clears SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP on the seccomp notify fds an agent holds,
 * to time the agent's round trip with and without it (the flag belongs to the filter, so
 * setting it through a copy of the fd acts on the agent's). Root only. Not a test.
 *   syncwake PID on|off [WAIT_MS]   waits up to WAIT_MS (default 0) for a notify fd;
 *                                   prints "syncwake on|off fds=N" */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/seccomp.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: syncwake PID on|off [WAIT_MS]\n"); return 2; }
    int pid = atoi(argv[1]);
    unsigned long flags = strcmp(argv[2], "on") == 0 ? 1UL : 0UL;
    int wait_ms = argc > 3 ? atoi(argv[3]) : 0;
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) { perror("pidfd_open"); return 1; }
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", pid);
    int count = 0;
    for (int waited = 0; count == 0; waited += 10) {
        DIR *d = opendir(dir);
        if (!d) { perror(dir); return 1; }
        for (struct dirent *e; (e = readdir(d));) {
            char path[340], link[64];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            ssize_t n = readlink(path, link, sizeof link - 1);
            if (n <= 0) continue;
            link[n] = 0;
            if (strcmp(link, "anon_inode:seccomp notify") != 0) continue;
            int fd = (int)syscall(SYS_pidfd_getfd, pidfd, atoi(e->d_name), 0);
            if (fd < 0) continue;
            if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags) == 0) count++;
            else fprintf(stderr, "SECCOMP_IOCTL_NOTIF_SET_FLAGS: %s\n", strerror(errno));
            close(fd);
        }
        closedir(d);
        if (count || waited >= wait_ms) break;
        nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
    }
    printf("syncwake %s fds=%d\n", argv[2], count);
    return count ? 0 : 1;
}
