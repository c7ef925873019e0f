// The process a latency run starts: writes CLOCK_MONOTONIC (ns) to the file argv[1] as
// the first thing it does, so the time from invoking the runtime to this exec is measured.
// Static, so that no dynamic loading sits between exec and the stamp.
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (argc < 2) return 2;
    char text[32];
    int n = snprintf(text, sizeof text, "%lld\n", (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, text, (size_t)n) != n) return 1;
    close(fd);
    return 0;
}
