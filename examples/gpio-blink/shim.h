/* What Swift cannot call itself: ioctl (variadic) and the _IOWR request values of
 * linux/gpio.h (function-like macros). Nothing else: the program is in main.swift. */
#include <stdint.h>
int blink_open(const char *path);
int blink_close(int fd);
int blink_ioctl(int fd, unsigned long request, void *arg);
int blink_errno(void);
unsigned long blink_get_line_request(void);     /* GPIO_V2_GET_LINE_IOCTL */
unsigned long blink_set_config_request(void);   /* GPIO_V2_LINE_SET_CONFIG_IOCTL */
unsigned long blink_get_values_request(void);   /* GPIO_V2_LINE_GET_VALUES_IOCTL */
unsigned long blink_set_values_request(void);   /* GPIO_V2_LINE_SET_VALUES_IOCTL */
int blink_print(const char *text);
int64_t blink_now_ns(void);
void blink_exit(int code) __attribute__((noreturn));
