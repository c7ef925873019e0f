#include "clinux.h"
#include <stdarg.h>

static int g_argc;
static char **g_argv;

/* glibc passes argc/argv/envp to ELF constructors; the Embedded build has no CommandLine. */
__attribute__((constructor)) static void cl_save_args(int argc, char **argv, char **envp) {
    g_argc = argc;
    g_argv = argv;
    (void)envp;
}

int cl_argc(void) { return g_argc; }
char **cl_argv(void) { return g_argv; }
char **cl_environ(void) { return environ; }

int cl_open(const char *path, int flags, unsigned int mode) { return open(path, flags, mode); }
int cl_openat(int dirfd, const char *path, int flags, unsigned int mode) { return openat(dirfd, path, flags, mode); }
int cl_fcntl_int(int fd, int cmd, int arg) { return fcntl(fd, cmd, arg); }
int cl_ioctl_ptr(int fd, unsigned long req, void *arg) { return ioctl(fd, req, arg); }
int cl_ioctl_int(int fd, unsigned long req, unsigned long arg) { return ioctl(fd, req, arg); }
int cl_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5) {
    return prctl(option, a2, a3, a4, a5);
}

int64_t cl_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
int64_t cl_realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
