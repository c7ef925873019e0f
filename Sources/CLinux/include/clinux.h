/* libc for Swift, with _GNU_SOURCE, and thin wrappers for what Swift cannot call
 * (variadic functions, macros, raw syscalls without glibc wrappers).
 * One header per facility keeps the wrappers easy to find. */
#ifndef CLINUX_H
#define CLINUX_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/utsname.h>
#include <sys/personality.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include "cl_base.h"
#include "cl_process.h"
#include "cl_mount.h"
#include "cl_caps.h"
#include "cl_socket.h"
#include "cl_seccomp.h"
#include "cl_terminal.h"
#include "cl_cgroups.h"
#include "cl_check.h"
#include "cl_agent.h"
#include "cl_gpio.h"
#include "cl_net.h"

#endif
