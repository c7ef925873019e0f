#ifndef CL_GPIO_H
#define CL_GPIO_H
#include <stdint.h>

/* GPIO line requests made by the agent for a container (Sources/Agent/GPIO.swift). The
 * decisions are in Swift; this file holds what Swift cannot express: the arch's ioctl
 * encodings (_IOWR differs on MIPS, PowerPC, SPARC), ioctl itself, SECCOMP_IOCTL_NOTIF_ADDFD,
 * and the registry that recognizes line fds the agent made. */

/* SYS_ioctl of this architecture. */
int cl_gpio_ioctl_nr(void);
/* The full native request for GPIO ioctl number `nr` (0xB4 type), 0 for one we do not know. */
uint32_t cl_gpio_request(uint32_t nr);
/* ioctl(fd, cl_gpio_request(nr), buf); -1 with errno. */
int cl_gpio_ioctl(int fd, uint32_t nr, void *buf);
/* GPIO_GET_CHIPINFO_IOCTL into label (32 bytes, NUL-terminated) and the line count;
 * -1 with errno (ENOTTY for what is not a GPIO chip). */
int cl_gpio_chip_info(int fd, char *label, uint32_t *lines);
/* Device number of a character device fd (or path with fd -1); -1 with ENOTTY for anything else. */
int cl_gpio_char_device(int fd, const char *path, uint64_t *dev);

/* 1 when character device `dev` is a GPIO chip by sysfs (/sys/dev/char/M:m/subsystem is the
 * gpio bus), 0 otherwise: checked before the agent, as root, makes any ioctl on a fd the
 * container chose. */
int cl_gpio_is_chip(uint64_t dev);

/* SECCOMP_IOCTL_NOTIF_ADDFD: installs src_fd (close-on-exec, as the kernel makes line fds)
 * in the notifying task; returns its number there, or -1 with errno. */
int cl_gpio_addfd(int notify_fd, uint64_t id, int src_fd);

/* The line fd registry: an epoll fd per container in which each line request fd the agent
 * made is registered under a slot fd number. epoll keys an entry by (open file, fd number)
 * and drops it when the open file is finally closed, without holding a reference: the
 * container's close releases the lines as usual, and an fd the container presents later is
 * recognized exactly (a forged fd, another container's line fd, a reopened chip are not).
 * Slots are fd numbers the agent keeps occupied by a placeholder (index 0..63). */
int cl_gpio_slot(int index);
/* Registers line_fd in `registry` under slot `index`; 0 or -1 with errno. */
int cl_gpio_registry_add(int registry, int index, int line_fd);
/* 1 when fd's open file is the one registered under slot `index`, 0 if not, -1 on error. */
int cl_gpio_registry_holds(int registry, int index, int fd);
/* The slot indexes still registered (their files still open somewhere), from
 * /proc/self/fdinfo of the registry, as a bit mask; -1 with errno. */
int cl_gpio_registry_live(int registry, uint64_t *mask);

#endif
