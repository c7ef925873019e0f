/* Times the three ways to hand a container a runtime image it cannot write, each alone:
 *   overlay  a detached read-only overlay of the binary's directory over an empty tmpfs
 *            (what swiftlet uses: no copy, the page cache stays the host file's)
 *   memfd    a copy in a sealed memfd (swiftlet's fallback; costs the binary's size in
 *            memory for as long as a process runs it)
 *   rbind    a detached read-only bind (cheapest, but CAP_SYS_ADMIN can clear the flag
 *            with mount_setattr: not used)
 * and checks that a write through each is refused.
 * usage: image-mechanisms BINARY RUNS   (root); prints a markdown table. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int detached(const char *type) {
    int fs = syscall(SYS_fsopen, type, FSOPEN_CLOEXEC);
    if (fs < 0) return -1;
    syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "size", "4k", 0);
    int m = -1;
    if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
        m = syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY);
    close(fs);
    return m;
}

static int overlay(const char *dir, const char *name) {
    int lower = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int empty = detached("tmpfs");
    int fs = syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
    int image = -1;
    if (lower >= 0 && empty >= 0 && fs >= 0 &&
        syscall(SYS_fsconfig, fs, FSCONFIG_SET_FD, "lowerdir+", NULL, lower) == 0 &&
        syscall(SYS_fsconfig, fs, FSCONFIG_SET_FD, "lowerdir+", NULL, empty) == 0 &&
        syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0) {
        int m = syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY);
        if (m >= 0) { image = openat(m, name, O_RDONLY | O_CLOEXEC); close(m); }
    }
    if (lower >= 0) close(lower);
    if (empty >= 0) close(empty);
    if (fs >= 0) close(fs);
    return image;
}

static int memfd(const char *path) {
    int src = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (src < 0 || fstat(src, &st) != 0) return -1;
    int m = memfd_create("image", MFD_CLOEXEC | MFD_ALLOW_SEALING | 0x10);
    off_t off = 0;
    for (ssize_t left = st.st_size; left > 0;) {
        ssize_t n = sendfile(m, src, &off, left);
        if (n <= 0) break;
        left -= n;
    }
    fcntl(m, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
    close(src);
    return m;
}

static int rbind(const char *path) {
    int c = syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
    if (c >= 0) syscall(SYS_mount_setattr, c, "", AT_EMPTY_PATH, &a, sizeof a);
    return c;
}

static const char *write_result(int fd) {
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    static char text[64];
    int w = open(p, O_WRONLY);
    if (w >= 0) {
        /* A sealed memfd opens for writing; its seal refuses the write itself. */
        ssize_t n = write(w, "x", 1);
        int e = errno;
        close(w);
        if (n == 1) return "WRITABLE";
        snprintf(text, sizeof text, "write refused (%s)", strerror(e));
        return text;
    }
    snprintf(text, sizeof text, "open refused (%s)", strerror(errno));
    return text;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    char *path = realpath(argv[1], NULL);
    if (!path) return 2;
    int runs = atoi(argv[2]);
    char *slash = strrchr(path, '/');
    *slash = 0;
    const char *dir = *path ? path : "/", *name = slash + 1;
    char full[4096];
    snprintf(full, sizeof full, "%s/%s", dir, name);
    const char *names[] = {"overlay", "memfd", "rbind"};
    double *t = calloc(runs, sizeof *t);
    printf("| mechanism | median µs | write through it |\n|---|---:|---|\n");
    for (int k = 0; k < 3; k++) {
        const char *verdict = "n/a";
        for (int i = 0; i < runs; i++) {
            double t0 = now_us();
            int fd = k == 0 ? overlay(dir, name) : k == 1 ? memfd(full) : rbind(full);
            t[i] = now_us() - t0;
            if (fd < 0) { verdict = "not available"; break; }
            if (i == 0) verdict = write_result(fd);
            close(fd);
        }
        qsort(t, runs, sizeof *t, cmp);
        printf("| %s | %.0f | %s |\n", names[k], t[runs / 2], verdict);
    }
    return 0;
}
