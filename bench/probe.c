/* bench/uml.sh's workloads, timed inside the container (boot and create excluded):
 *   probe getpid N    mean ns of one getpid() round trip (syscall(): no C library caches it)
 *   probe syscalls N  ms for N open+read+close of /dev/null
 *   probe cpu N       ms for N rounds of an integer hash (no system calls)
 * Built static: it runs in the busybox rootfs and in a UML guest. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: probe getpid|syscalls|cpu N\n"); return 2; }
    long n = atol(argv[2]);
    double a = now_ns();
    if (!strcmp(argv[1], "getpid")) {
        for (long i = 0; i < n; i++) syscall(SYS_getpid);
        printf("%.0f\n", (now_ns() - a) / n);
        return 0;
    }
    if (!strcmp(argv[1], "syscalls")) {
        char c;
        for (long i = 0; i < n; i++) {
            int fd = open("/dev/null", O_RDONLY);
            if (fd < 0 || read(fd, &c, 1) < 0) return 1;
            close(fd);
        }
    } else if (!strcmp(argv[1], "cpu")) {
        volatile unsigned long sink;
        unsigned long h = 1469598103934665603UL;
        for (long i = 0; i < n; i++) { h ^= (unsigned long)i; h *= 1099511628211UL; h ^= h >> 29; }
        sink = h;
        (void)sink;
    } else {
        return 2;
    }
    printf("%.0f\n", (now_ns() - a) / 1e6);
    return 0;
}
