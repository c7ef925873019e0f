#include "shim.h"
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <linux/gpio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

int blink_open(const char *path) { return open(path, O_RDWR | O_CLOEXEC); }
int blink_close(int fd) { return close(fd); }
int blink_ioctl(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg); }
int blink_errno(void) { return errno; }
unsigned long blink_get_line_request(void) { return GPIO_V2_GET_LINE_IOCTL; }
unsigned long blink_set_config_request(void) { return GPIO_V2_LINE_SET_CONFIG_IOCTL; }
unsigned long blink_get_values_request(void) { return GPIO_V2_LINE_GET_VALUES_IOCTL; }
unsigned long blink_set_values_request(void) { return GPIO_V2_LINE_SET_VALUES_IOCTL; }
int blink_print(const char *text) { return (int)write(1, text, strlen(text)); }
int64_t blink_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}
void blink_exit(int code) { _exit(code); }
