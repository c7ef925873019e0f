/* Runs inside a container whose mount/umount2/mknod/mknodat are SCMP_ACT_NOTIFY.
 * Static (cc -static -O2 -pthread), since the test rootfs has no libc.
 *   notify-helper mount PATH          mount tmpfs on PATH; prints "mount PATH errno=N"
 *   notify-helper mountfs SRC PATH TYPE FLAGS
 *                                     mount(SRC, PATH, TYPE, FLAGS (hex), NULL); prints
 *                                      "mountfs PATH errno=N"
 *   notify-helper race N              TOCTOU: N mounts on /foo while a thread flips the
 *                                      path to /bar; prints "race attempts=N ok=K"
 *   notify-helper bench N PATH        N mknod(PATH, c 1:5) round trips (denied by policy,
 *                                      answered from the agent's decision alone) and N
 *                                      mknod of a fifo the agent creates; prints p50/p99 in ns
 *   notify-helper flood N             N identical mknod(/flood, c 1:5) calls as fast as the agent
 *                                      answers them (0: until killed); prints "flood calls=N"
 *   notify-helper steps STEP...      one after another, in one process: id:UID:GID:G1,G2 (setgroups,
 *                                      setresgid, setresuid), umask:OCTAL, fifo:PATH, chr:PATH:MAJOR:MINOR;
 *                                      prints "PATH errno=N" for each node
 *   notify-helper impostor SOCKET ID [TOKEN]
 *                                     loads its own filter notifying mount, sends its notify fd
 *                                      to the agent at SOCKET claiming container ID (with TOKEN
 *                                      as the attach token, if given), then mounts tmpfs on /foo;
 *                                      prints "impostor mount errno=N" (38, ENOSYS: nobody took
 *                                      the fd)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

static volatile char path[64] = "/foo";
static volatile int stop;

static void *flipper(void *arg) {
    (void)arg;
    while (!stop) {
        /* One byte-sized store each: the agent may copy any mix of the two. */
        path[1] = 'b'; path[2] = 'a'; path[3] = 'r';
        path[1] = 'f'; path[2] = 'o'; path[3] = 'o';
    }
    return NULL;
}

static int cmp(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void report(const char *what, long long *samples, int n) {
    qsort(samples, (size_t)n, sizeof *samples, cmp);
    printf("%s n=%d p50_ns=%lld p99_ns=%lld max_ns=%lld\n", what, n, samples[n / 2], samples[(n * 99) / 100],
           samples[n - 1]);
}

/* A process outside swiftlet's control handing the agent a notify fd as container `id`. */
static int impostor(const char *socket_path, const char *id, const char *token) {
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mount, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { printf("impostor no_new_privs errno=%d\n", errno); return 0; }
    int notify = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (notify < 0) { printf("impostor seccomp errno=%d\n", errno); return 0; }
    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path);
    if (connect(sock, (struct sockaddr *)&addr, sizeof addr) != 0) {
        printf("impostor connect errno=%d\n", errno);
        return 0;
    }
    char msg[1024];
    int len = snprintf(msg, sizeof msg,
                       "{\"ociVersion\":\"1.3.0\",\"fds\":[\"seccompFd\"],\"pid\":%d,%s%s%s"
                       "\"state\":{\"ociVersion\":\"1.3.0\",\"id\":\"%s\",\"status\":\"running\",\"pid\":%d,\"bundle\":\"/\"}}",
                       getpid(), token ? "\"swiftletAgentToken\":\"" : "", token ? token : "", token ? "\"," : "", id, getpid());
    struct iovec iov = {.iov_base = msg, .iov_len = (size_t)len};
    char control[CMSG_SPACE(sizeof(int))];
    memset(control, 0, sizeof control);
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &notify, sizeof(int));
    if (sendmsg(sock, &mh, 0) != len) { printf("impostor sendmsg errno=%d\n", errno); return 0; }
    /* Only the agent's copy may answer: with none left, the kernel fails the call (ENOSYS). */
    close(notify);
    close(sock);
    int rc = mount("none", "/foo", "tmpfs", 0, NULL);
    printf("impostor mount errno=%d\n", rc == 0 ? 0 : errno);
    return 0;
}

static int steps(int n, char **step) {
    for (int i = 0; i < n; i++) {
        char *s = step[i];
        if (!strncmp(s, "id:", 3)) {
            uid_t uid = (uid_t)strtoul(s + 3, &s, 10);
            gid_t gid = (gid_t)strtoul(s + 1, &s, 10);
            gid_t groups[32];
            size_t count = 0;
            for (s++; *s && count < 32; s += *s == ',') groups[count++] = (gid_t)strtoul(s, &s, 10);
            if (setgroups(count, groups) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid)) {
                printf("%s errno=%d\n", step[i], errno);
                return 1;
            }
        } else if (!strncmp(s, "umask:", 6)) {
            umask((mode_t)strtoul(s + 6, NULL, 8));
        } else if (!strncmp(s, "fifo:", 5)) {
            int rc = mknod(s + 5, S_IFIFO | 0666, 0);
            printf("%s errno=%d\n", s + 5, rc == 0 ? 0 : errno);
        } else if (!strncmp(s, "chr:", 4)) {
            char *path = s + 4, *colon = strchr(path, ':');
            if (!colon) return 2;
            *colon = 0;
            unsigned major = (unsigned)strtoul(colon + 1, &s, 10), minor = (unsigned)strtoul(s + 1, NULL, 10);
            int rc = mknod(path, S_IFCHR | 0666, makedev(major, minor));
            printf("%s errno=%d\n", path, rc == 0 ? 0 : errno);
        } else {
            return 2;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 3 && !strcmp(argv[1], "mount")) {
        int rc = mount("none", argv[2], "tmpfs", 0, NULL);
        printf("mount %s errno=%d\n", argv[2], rc == 0 ? 0 : errno);
        return 0;
    }
    if (argc == 6 && !strcmp(argv[1], "mountfs")) {
        int rc = mount(argv[2], argv[3], argv[4], strtoul(argv[5], NULL, 16), NULL);
        printf("mountfs %s errno=%d\n", argv[3], rc == 0 ? 0 : errno);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "race")) {
        int n = atoi(argv[2]), ok = 0;
        pthread_t t;
        pthread_create(&t, NULL, flipper, NULL);
        for (int i = 0; i < n; i++) {
            if (mount("none", (const char *)path, "tmpfs", 0, NULL) == 0) {
                ok++;
                umount2("/foo", 0);
            }
        }
        stop = 1;
        pthread_join(t, NULL);
        printf("race attempts=%d ok=%d\n", n, ok);
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "bench")) {
        int n = atoi(argv[2]);
        long long *samples = calloc((size_t)n, sizeof *samples);
        int unexpected = 0;
        for (int i = 0; i < n; i++) {
            long long t0 = now_ns();
            int rc = mknod(argv[3], S_IFCHR | 0600, makedev(1, 5));
            samples[i] = now_ns() - t0;
            if (rc == 0 || errno != EPERM) unexpected++;
        }
        report("denied", samples, n);
        char fifo[128];
        snprintf(fifo, sizeof fifo, "%s-fifo", argv[3]);
        for (int i = 0; i < n; i++) {
            long long t0 = now_ns();
            int rc = mknod(fifo, S_IFIFO | 0600, 0);
            samples[i] = now_ns() - t0;
            if (rc != 0) unexpected++;
            unlink(fifo);
        }
        report("performed", samples, n);
        printf("unexpected=%d\n", unexpected);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "flood")) {
        long n = atol(argv[2]), k = 0;
        for (; n == 0 || k < n; k++) mknod("/flood", S_IFCHR | 0600, makedev(1, 5));
        printf("flood calls=%ld\n", k);
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "steps")) return steps(argc - 2, argv + 2);
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "impostor")) return impostor(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
    fprintf(stderr, "usage: notify-helper mount PATH | mountfs SRC PATH TYPE FLAGS | race N | bench N PATH"
                    " | flood N | steps STEP... | impostor SOCKET ID [TOKEN]\n");
    return 2;
}
