#include "clinux.h"
#include <linux/gpio.h>
#include <linux/seccomp.h>

int cl_gpio_ioctl_nr(void) { return SYS_ioctl; }

uint32_t cl_gpio_request(uint32_t nr) {
    switch (nr) {
    case 0x01: return GPIO_GET_CHIPINFO_IOCTL;
    case 0x02: return GPIO_GET_LINEINFO_IOCTL;
    case 0x03: return GPIO_GET_LINEHANDLE_IOCTL;
    case 0x04: return GPIO_GET_LINEEVENT_IOCTL;
    case 0x05: return GPIO_V2_GET_LINEINFO_IOCTL;
    case 0x06: return GPIO_V2_GET_LINEINFO_WATCH_IOCTL;
    case 0x07: return GPIO_V2_GET_LINE_IOCTL;
    case 0x0a: return GPIOHANDLE_SET_CONFIG_IOCTL;
    case 0x0b: return GPIO_GET_LINEINFO_WATCH_IOCTL;
    case 0x0d: return GPIO_V2_LINE_SET_CONFIG_IOCTL;
    default: return 0;
    }
}

int cl_gpio_ioctl(int fd, uint32_t nr, void *buf) {
    uint32_t request = cl_gpio_request(nr);
    if (!request) { errno = EINVAL; return -1; }
    int rc;
    do { rc = ioctl(fd, request, buf); } while (rc < 0 && errno == EINTR);
    return rc;
}

int cl_gpio_chip_info(int fd, char *label, uint32_t *lines) {
    struct gpiochip_info info;
    memset(&info, 0, sizeof info);
    if (ioctl(fd, GPIO_GET_CHIPINFO_IOCTL, &info) < 0) return -1;
    memcpy(label, info.label, sizeof info.label);
    label[sizeof info.label - 1] = 0;
    *lines = info.lines;
    return 0;
}

int cl_gpio_char_device(int fd, const char *path, uint64_t *dev) {
    struct stat st;
    if ((fd >= 0 ? fstat(fd, &st) : stat(path, &st)) < 0) return -1;
    if (!S_ISCHR(st.st_mode)) { errno = ENOTTY; return -1; }
    *dev = st.st_rdev;
    return 0;
}

int cl_gpio_is_chip(uint64_t dev) {
    char path[96], target[256];
    snprintf(path, sizeof path, "/sys/dev/char/%u:%u/subsystem", major(dev), minor(dev));
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0) return 0;
    target[n] = 0;
    size_t len = (size_t)n;
    return len >= 9 && strcmp(target + len - 9, "/bus/gpio") == 0;
}

int cl_gpio_addfd(int notify_fd, uint64_t id, int src_fd) {
    struct seccomp_notif_addfd addfd;
    memset(&addfd, 0, sizeof addfd);
    addfd.id = id;
    addfd.srcfd = (uint32_t)src_fd;
    addfd.newfd_flags = O_CLOEXEC;
    int rc;
    do { rc = ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd); } while (rc < 0 && errno == EINTR);
    return rc;
}

/* ---- the line fd registry ---- */

static int placeholder = -1;
static int slots[64];
static int slot_count;

int cl_gpio_slot(int index) {
    if (index < 0 || index >= 64) { errno = EINVAL; return -1; }
    if (placeholder < 0) {
        placeholder = open("/", O_PATH | O_CLOEXEC);
        if (placeholder < 0) return -1;
    }
    while (slot_count <= index) {
        int fd = fcntl(placeholder, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) return -1;
        slots[slot_count++] = fd;
    }
    return slots[index];
}

/* Puts `fd`'s open file at the slot's number for one epoll_ctl, then the placeholder back. */
static int at_slot(int registry, int index, int fd, int op) {
    int slot = cl_gpio_slot(index);
    if (slot < 0) return -1;
    if (dup3(fd, slot, O_CLOEXEC) < 0) return -1;
    struct epoll_event ev = { .events = 0, .data.u64 = (uint64_t)index };
    int rc = epoll_ctl(registry, op, slot, &ev);
    int saved = errno;
    if (dup3(placeholder, slot, O_CLOEXEC) < 0) abort(); /* a slot must never keep a line fd */
    errno = saved;
    return rc;
}

int cl_gpio_registry_add(int registry, int index, int line_fd) {
    return at_slot(registry, index, line_fd, EPOLL_CTL_ADD);
}

int cl_gpio_registry_holds(int registry, int index, int fd) {
    if (at_slot(registry, index, fd, EPOLL_CTL_MOD) == 0) return 1;
    /* ENOENT: no such (file, slot) entry; EPERM: a file epoll cannot watch (not a line fd). */
    return errno == ENOENT || errno == EPERM ? 0 : -1;
}

int cl_gpio_registry_live(int registry, uint64_t *mask) {
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", registry);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) return -1;
    buf[n] = 0;
    *mask = 0;
    /* "tfd:       12 events:        0 data:                3  pos:0 ino:..." per entry;
     * data holds the slot index. */
    for (char *p = strstr(buf, "data:"); p; p = strstr(p + 5, "data:")) {
        unsigned long long index = strtoull(p + 5, NULL, 16);
        if (index < 64) *mask |= 1ULL << index;
    }
    return 0;
}
