/* A small GPIO v2-uAPI client for the gpio stage (and bench/gpio): requests, reconfigures,
 * races and floods the agent from inside a container. Prints one line per result:
 * "ok ..." or "err ERRNO-NAME". Static (the guest's containers have no libc).
 *   client CHIP request DIR OFFSET...     DIR: in, out, out1 (output driven to 1)
 *   client CHIP setconfig OFFSET FROM TO  request as FROM, then GPIO_V2_LINE_SET_CONFIG to TO
 *   client CHIP forge                     SET_CONFIG on fds that are no line request
 *   client CHIP v1setconfig OFFSET        GPIOHANDLE_SET_CONFIG on a v1 handle
 *   client CHIP reopen OFFSET             request through a new open of the chip and /proc/self/fd
 *   client CHIP event OFFSET MS           falling-edge request; waits MS for one event
 *   client CHIP race GOOD BAD N           N requests while a thread flips offsets[0] GOOD<->BAD
 *   client CHIP flood N                   N refused requests (line 4 is never granted)
 *   client CHIP signals OFFSET N          N requests while a thread sends SIGUSR1 (no SA_RESTART):
 *                                         an interrupted request must leave no fd behind
 *   client CHIP latency OFFSET N          N request+release cycles: p50/p99 in microseconds
 *   client CHIP blink OFFSET N            the LED blink: output, N toggles, release; CPU and wall
 *   client CHIP toggles OFFSET MS         value writes per second on one held line
 *   client FILE ioctlrate MS              untrapped ioctls per second (FIONREAD on FILE): the filter's cost
 *   client CHIP hostattach SOCK PID ID OFFSET
 *                                         outside any container: a filter notifying GPIO ioctls on this
 *                                         task, attached on the agent's user socket SOCK claiming pid PID
 *                                         (a container's init) and id ID; then an input request of OFFSET
 *   client CHIP hostflood SOCK PID N SEC  N processes attach as hostattach does and stay SEC seconds;
 *                                         "forked N sent M" once all have sent
 *   client --seed FILE                    credits FILE's bytes to the kernel's entropy pool (the
 *                                         guest has no entropy source: getrandom would block) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/gpio.h>
#include <linux/random.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static const char *chip_path;

/* Numbers are parsed and printed without the locale: strtol and %f read it through TLS,
 * which static glibc in the UML 6.1 guest does not have set up (strtol crashes there). */
static long num(const char *s) {
    long v = 0;
    while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
    return v;
}

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long long cpu_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int open_chip(void) {
    int fd = open(chip_path, O_RDWR | O_CLOEXEC);
    if (fd < 0) { printf("err open %s\n", strerrorname_np(errno)); exit(1); }
    return fd;
}

static uint64_t dir_flags(const char *d) {
    if (!strcmp(d, "in")) return GPIO_V2_LINE_FLAG_INPUT;
    if (!strcmp(d, "out") || !strcmp(d, "out1")) return GPIO_V2_LINE_FLAG_OUTPUT;
    if (!strcmp(d, "fall")) return GPIO_V2_LINE_FLAG_INPUT | GPIO_V2_LINE_FLAG_EDGE_FALLING;
    fprintf(stderr, "unknown direction %s\n", d);
    exit(2);
}

static void fill(struct gpio_v2_line_request *r, const char *dir, unsigned *offsets, int n) {
    memset(r, 0, sizeof *r);
    for (int i = 0; i < n; i++) r->offsets[i] = offsets[i];
    r->num_lines = n;
    strcpy(r->consumer, "client");
    r->config.flags = dir_flags(dir);
    if (!strcmp(dir, "out1")) {
        r->config.num_attrs = 1;
        r->config.attrs[0].attr.id = GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES;
        r->config.attrs[0].attr.values = ~0ULL;
        r->config.attrs[0].mask = ~0ULL;
    }
}

static int request(int chip, const char *dir, unsigned *offsets, int n) {
    struct gpio_v2_line_request r;
    fill(&r, dir, offsets, n);
    if (ioctl(chip, GPIO_V2_GET_LINE_IOCTL, &r) < 0) return -errno;
    return r.fd;
}

static int set_config(int fd, const char *dir) {
    struct gpio_v2_line_config c;
    memset(&c, 0, sizeof c);
    c.flags = dir_flags(dir);
    return ioctl(fd, GPIO_V2_LINE_SET_CONFIG_IOCTL, &c) < 0 ? -errno : 0;
}

static void report(const char *what, int rc) {
    if (rc < 0) printf("%s err %s\n", what, strerrorname_np(-rc));
    else printf("%s ok\n", what);
}

static volatile int racing = 1;
static struct gpio_v2_line_request race_req;
static unsigned race_good, race_bad;

static void *flipper(void *arg) {
    (void)arg;
    volatile unsigned *o = &race_req.offsets[0];
    while (racing) { *o = race_bad; *o = race_good; }
    return NULL;
}

static volatile int signalling = 1;
static pid_t main_tid;

static void on_signal(int sig) { (void)sig; }

static void *signaller(void *arg) {
    (void)arg;
    while (signalling) { syscall(SYS_tgkill, getpid(), main_tid, SIGUSR1); usleep(20); }
    return NULL;
}

static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    for (struct dirent *e; (e = readdir(d)); ) if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1;   /* the directory's own fd */
}

static int cmp(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* A filter on this task alone whose notify fd goes to the agent as a container's would: the
 * agent must see that the task is in no user namespace of the connecting user's. */
static int host_attach(const char *sock, const char *pid, const char *id) {
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xff00),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xB400, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
    };
    struct sock_fprog prog = { .len = sizeof code / sizeof code[0], .filter = code };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -errno;
    int listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (listener < 0) return -errno;
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strncpy(a.sun_path, sock, sizeof a.sun_path - 1);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) return -errno;
    char state[512];
    int n = snprintf(state, sizeof state,
        "{\"ociVersion\":\"1.0.2\",\"fds\":[\"seccompFd\"],\"pid\":%s,\"metadata\":\"\","
        "\"state\":{\"ociVersion\":\"1.0.2\",\"id\":\"%s\",\"status\":\"creating\",\"pid\":%s,"
        "\"bundle\":\"/\",\"annotations\":{\"org.swiftlet.test/grant\":\"mine\"}}}", pid, id, pid);
    char control[CMSG_SPACE(sizeof(int))];
    memset(control, 0, sizeof control);
    struct iovec iov = { .iov_base = state, .iov_len = (size_t)n };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &listener, sizeof(int));
    if (sendmsg(s, &m, 0) != n) return -errno;
    close(s);
    close(listener);
    usleep(300 * 1000);   /* the agent attaches it (without a listener the ioctl fails ENOSYS) */
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: client CHIP COMMAND ...\n"); return 2; }
    if (!strcmp(argv[1], "--seed")) {
        struct { struct rand_pool_info info; unsigned char bytes[512]; } seed;
        int in = open(argv[2], O_RDONLY), rnd = open("/dev/urandom", O_WRONLY);
        ssize_t n = in < 0 ? -1 : read(in, seed.bytes, sizeof seed.bytes);
        if (n <= 0 || rnd < 0) { perror("seed"); return 1; }
        seed.info.entropy_count = (int)n * 8;
        seed.info.buf_size = (int)n;
        if (ioctl(rnd, RNDADDENTROPY, &seed) < 0) { perror("RNDADDENTROPY"); return 1; }
        return 0;
    }
    chip_path = argv[1];
    const char *cmd = argv[2];
    int chip = open_chip();
    if (!strcmp(cmd, "request") && argc >= 5) {
        unsigned offsets[64];
        int n = 0;
        for (int i = 4; i < argc && n < 64; i++) offsets[n++] = (unsigned)num(argv[i]);
        int fd = request(chip, argv[3], offsets, n);
        report("request", fd);
        if (fd >= 0 && !strcmp(argv[3], "in")) {
            struct gpio_v2_line_values v = { .mask = (1ULL << n) - 1 };
            if (ioctl(fd, GPIO_V2_LINE_GET_VALUES_IOCTL, &v) == 0) printf("values %llx\n", (unsigned long long)v.bits);
        }
        if (fd >= 0 && getenv("HOLD_MS")) usleep(num(getenv("HOLD_MS")) * 1000);
        return fd >= 0 ? 0 : 1;
    }
    if (!strcmp(cmd, "hostattach") && argc == 7) {
        int rc = host_attach(argv[3], argv[4], argv[5]);
        if (rc < 0) { report("attach", rc); return 1; }
        unsigned o = (unsigned)num(argv[6]);
        int fd = request(chip, "in", &o, 1);
        report("request", fd);
        return fd >= 0 ? 0 : 1;
    }
    if (!strcmp(cmd, "hostflood") && argc == 7) {
        int n = (int)num(argv[5]), forked = 0, sent = 0, done[2];
        if (pipe(done) < 0) return 1;
        for (int i = 0; i < n; i++) {
            char id[32];
            snprintf(id, sizeof id, "flood%d", i);
            pid_t child = fork();
            if (child == 0) {
                close(done[0]);
                char ok = host_attach(argv[3], argv[4], id) == 0;
                if (write(done[1], &ok, 1) != 1) _exit(1);
                close(done[1]);
                sleep((unsigned)num(argv[6]));
                _exit(0);
            }
            if (child > 0) forked++;
        }
        close(done[1]);
        char ok;
        while (read(done[0], &ok, 1) == 1) sent += ok;
        printf("forked %d sent %d\n", forked, sent);
        fflush(stdout);
        while (wait(NULL) > 0) {}
        return 0;
    }
    if (!strcmp(cmd, "setconfig") && argc == 6) {
        unsigned o = (unsigned)num(argv[3]);
        int fd = request(chip, argv[4], &o, 1);
        report("request", fd);
        if (fd < 0) return 1;
        int rc = set_config(fd, argv[5]);
        report("setconfig", rc);
        if (rc == 0 && getenv("HOLD_MS")) usleep(num(getenv("HOLD_MS")) * 1000);
        return rc == 0 ? 0 : 1;
    }
    if (!strcmp(cmd, "forge")) {
        int null = open("/dev/null", O_RDWR);
        report("chip-fd", set_config(chip, "out"));
        report("dev-null", set_config(null, "out"));
        report("bad-fd", set_config(999, "out"));
        /* A v1 event fd: a line fd the agent made, but not a v2 request. */
        struct gpioevent_request e;
        memset(&e, 0, sizeof e);
        e.lineoffset = (unsigned)num(getenv("EVENT_LINE") ? getenv("EVENT_LINE") : "3");
        e.handleflags = GPIOHANDLE_REQUEST_INPUT;
        e.eventflags = GPIOEVENT_REQUEST_FALLING_EDGE;
        if (ioctl(chip, GPIO_GET_LINEEVENT_IOCTL, &e) == 0) {
            report("v1-event-fd", set_config(e.fd, "out"));
            close(e.fd);   /* frees the line for the handle request below */
        } else {
            report("v1-event-request", -errno);
        }
        /* A v1 handle fd: made by the agent, but no v2 request either. */
        struct gpiohandle_request h;
        memset(&h, 0, sizeof h);
        h.lineoffsets[0] = e.lineoffset;
        h.lines = 1;
        h.flags = GPIOHANDLE_REQUEST_INPUT;
        if (ioctl(chip, GPIO_GET_LINEHANDLE_IOCTL, &h) == 0) report("v1-handle-fd", set_config(h.fd, "out"));
        else report("v1-handle-request", -errno);
        return 0;
    }
    if (!strcmp(cmd, "v1setconfig") && argc == 4) {
        struct gpiohandle_request h;
        memset(&h, 0, sizeof h);
        h.lineoffsets[0] = (unsigned)num(argv[3]);
        h.lines = 1;
        h.flags = GPIOHANDLE_REQUEST_INPUT;
        if (ioctl(chip, GPIO_GET_LINEHANDLE_IOCTL, &h) < 0) { report("v1-request", -errno); return 1; }
        report("v1-request", 0);
        struct gpiohandle_config c;
        memset(&c, 0, sizeof c);
        c.flags = GPIOHANDLE_REQUEST_OUTPUT;
        report("v1-setconfig", ioctl(h.fd, GPIOHANDLE_SET_CONFIG_IOCTL, &c) < 0 ? -errno : 0);
        return 0;
    }
    if (!strcmp(cmd, "reopen") && argc == 4) {
        unsigned o = (unsigned)num(argv[3]);
        int again = open(chip_path, O_RDONLY);
        report("reopen", request(again, "out", &o, 1));
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", chip);
        int via = open(path, O_RDWR);
        report("proc-fd", via < 0 ? -errno : request(via, "out", &o, 1));
        return 0;
    }
    if (!strcmp(cmd, "event") && argc == 5) {
        unsigned o = (unsigned)num(argv[3]);
        int fd = request(chip, "fall", &o, 1);
        report("request", fd);
        if (fd < 0) return 1;
        printf("waiting\n");
        fflush(stdout);
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, num(argv[4])) != 1) { printf("event timeout\n"); return 1; }
        struct gpio_v2_line_event ev;
        if (read(fd, &ev, sizeof ev) != sizeof ev) { printf("event err %s\n", strerrorname_np(errno)); return 1; }
        printf("event %s offset %u\n", ev.id == GPIO_V2_LINE_EVENT_FALLING_EDGE ? "falling" : "rising", ev.offset);
        return 0;
    }
    if (!strcmp(cmd, "race") && argc == 6) {
        race_good = (unsigned)num(argv[3]);
        race_bad = (unsigned)num(argv[4]);
        int n = num(argv[5]);
        fill(&race_req, "out1", &race_good, 1);
        pthread_t t;
        pthread_create(&t, NULL, flipper, NULL);
        int ok = 0, refused = 0, other = 0;
        for (int i = 0; i < n; i++) {
            race_req.fd = -1;
            if (ioctl(chip, GPIO_V2_GET_LINE_IOCTL, &race_req) == 0) { ok++; close(race_req.fd); }
            else if (errno == EPERM) refused++;
            else other++;
        }
        racing = 0;
        pthread_join(t, NULL);
        printf("race ok %d refused %d other %d\n", ok, refused, other);
        return 0;
    }
    if (!strcmp(cmd, "signals") && argc == 5) {
        unsigned o = (unsigned)num(argv[3]);
        int n = num(argv[4]), ok = 0, eintr = 0, ebusy = 0, other = 0;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;   /* no SA_RESTART: an interrupted call returns EINTR */
        sigaction(SIGUSR1, &sa, NULL);
        main_tid = (pid_t)syscall(SYS_gettid);
        int before = open_fds();
        pthread_t t;
        pthread_create(&t, NULL, signaller, NULL);
        for (int i = 0; i < n; i++) {
            int fd = request(chip, "out", &o, 1);
            if (fd >= 0) { ok++; close(fd); }
            else if (fd == -EINTR) eintr++;
            else if (fd == -EBUSY) ebusy++;
            else other++;
        }
        signalling = 0;
        pthread_join(t, NULL);
        int leaked = open_fds() - before;
        int after = request(chip, "out", &o, 1);
        printf("signals ok %d eintr %d ebusy %d other %d leaked-fds %d after %s\n", ok, eintr, ebusy, other, leaked,
               after >= 0 ? "ok" : strerrorname_np(-after));
        return 0;
    }
    if (!strcmp(cmd, "flood") && argc == 4) {
        int n = num(argv[3]), refused = 0;
        unsigned o = 4;
        long long start = now_ns();
        for (int i = 0; i < n; i++) if (request(chip, "in", &o, 1) == -EPERM) refused++;
        printf("flood refused %d of %d in %lld ms\n", refused, n, (now_ns() - start) / 1000000);
        return 0;
    }
    if (!strcmp(cmd, "latency") && argc == 5) {
        unsigned o = (unsigned)num(argv[3]);
        int n = num(argv[4]);
        long long *t = calloc(n, sizeof *t);
        for (int i = 0; i < n; i++) {
            long long s = now_ns();
            int fd = request(chip, "out", &o, 1);
            t[i] = now_ns() - s;
            if (fd < 0) { report("latency", fd); return 1; }
            close(fd);
        }
        qsort(t, n, sizeof *t, cmp);
        printf("latency n %d p50 %lld.%lld p99 %lld.%lld us\n", n, t[n / 2] / 1000, t[n / 2] % 1000 / 100,
               t[n * 99 / 100] / 1000, t[n * 99 / 100] % 1000 / 100);
        return 0;
    }
    if (!strcmp(cmd, "blink") && argc == 5) {
        unsigned o = (unsigned)num(argv[3]);
        int n = num(argv[4]);
        /* CPU time from the scheduler's runtime (getrusage counts ticks: 10 ms in the guest). */
        long long c0 = cpu_ns(), s = now_ns();
        int fd = request(chip, "out", &o, 1);
        if (fd < 0) { report("blink", fd); return 1; }
        for (int i = 0; i < n; i++) {
            struct gpio_v2_line_values v = { .bits = (uint64_t)(i & 1) ^ 1, .mask = 1 };
            if (ioctl(fd, GPIO_V2_LINE_SET_VALUES_IOCTL, &v) < 0) { report("blink-set", -errno); return 1; }
        }
        close(fd);
        long long wall = now_ns() - s, cpu = (cpu_ns() - c0) / 1000;
        printf("blink toggles %d wall %lld us cpu %lld us\n", n, wall / 1000, cpu);
        return 0;
    }
    if (!strcmp(cmd, "toggles") && argc == 5) {
        unsigned o = (unsigned)num(argv[3]);
        long long ms = num(argv[4]);
        int fd = request(chip, "out", &o, 1);
        if (fd < 0) { report("toggles", fd); return 1; }
        long long s = now_ns(), end = s + ms * 1000000LL, n = 0;
        while (now_ns() < end) {
            for (int k = 0; k < 100; k++, n++) {
                struct gpio_v2_line_values v = { .bits = (uint64_t)(n & 1), .mask = 1 };
                ioctl(fd, GPIO_V2_LINE_SET_VALUES_IOCTL, &v);
            }
        }
        printf("toggles per-second %lld\n", n * 1000000000LL / (now_ns() - s));
        return 0;
    }
    if (!strcmp(cmd, "ioctlrate") && argc == 4) {
        long long ms = num(argv[3]), s = now_ns(), c = cpu_ns(), end = s + ms * 1000000LL, n = 0;
        int avail;
        while (now_ns() < end) for (int k = 0; k < 100; k++, n++) ioctl(chip, FIONREAD, &avail);
        long long cpu = cpu_ns() - c;
        printf("ioctls per-second %lld\n", n * 1000000000LL / (now_ns() - s));
        /* By the process's own CPU time: what other load takes from it does not count. */
        if (cpu > 0) printf("ioctls per-cpu-second %lld\n", n * 1000000000LL / cpu);
        return 0;
    }
    fprintf(stderr, "unknown command %s\n", cmd);
    return 2;
}
