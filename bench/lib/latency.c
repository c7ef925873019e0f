// latency STAMP CMD ARGS...: runs CMD (stdio on /dev/null), waits for it, then for the file
// STAMP that the container's process writes (bench/lib/stamp.c), and prints the time from
// just before CMD was spawned to that process's stamp, in microseconds.
// Exit status: 0, or 1 when CMD failed or no stamp appeared within 5 s.
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long monotonic_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: latency STAMP CMD ARGS...\n"); return 2; }
    const char *stamp = argv[1];
    unlink(stamp);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    long long start = monotonic_ns();
    if (posix_spawn(&pid, argv[2], &actions, NULL, argv + 2, environ) != 0) { perror(argv[2]); return 1; }
    int status = 0;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "latency: %s failed (status %d)\n", argv[2], status);
        return 1;
    }
    // `start` returns once the process is exec'd; its stamp may land a moment later.
    for (long long deadline = monotonic_ns() + 5000000000LL; monotonic_ns() < deadline;) {
        int fd = open(stamp, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            char text[32] = {0};
            ssize_t n = read(fd, text, sizeof text - 1);
            close(fd);
            if (n > 0 && text[n - 1] == '\n') {
                printf("%.1f\n", (atoll(text) - start) / 1000.0);
                return 0;
            }
        }
        usleep(20);
    }
    fprintf(stderr, "latency: no stamp in %s\n", stamp);
    return 1;
}
