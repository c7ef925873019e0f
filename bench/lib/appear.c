/* Prints CLOCK_REALTIME in ns at the moment the file PATH appears (inotify on its directory),
 * so that a bench can time "until the container's process has run" without polling.
 * usage: appear PATH TIMEOUT_MS   (exit 1 on timeout) */
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

static void print_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    printf("%lld\n", (long long)t.tv_sec * 1000000000LL + t.tv_nsec);
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: appear PATH TIMEOUT_MS\n"); return 2; }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", argv[1]);
    int fd = inotify_init1(IN_CLOEXEC);
    if (fd < 0 || inotify_add_watch(fd, dirname(dir), IN_CREATE | IN_MOVED_TO) < 0) { perror("appear"); return 2; }
    long left = atol(argv[2]);
    for (;;) {
        /* After the watch is in place, so that a file made before it is not missed. */
        if (access(argv[1], F_OK) == 0) { print_now(); return 0; }
        struct pollfd p = {fd, POLLIN, 0};
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int n = poll(&p, 1, (int)left);
        clock_gettime(CLOCK_MONOTONIC, &b);
        left -= (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
        if (n > 0) { char buf[4096]; if (read(fd, buf, sizeof buf) < 0) return 2; }
        else if (n == 0 || left <= 0) { if (access(argv[1], F_OK) == 0) { print_now(); return 0; } return 1; }
    }
}
