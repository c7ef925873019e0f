#ifndef CL_BASE_H
#define CL_BASE_H
#include <errno.h>
#include <stdint.h>

/* argv/envp as glibc passed them to the program (Embedded Swift has no CommandLine). */
int cl_argc(void);
char **cl_argv(void);
char **cl_environ(void);

static inline int cl_errno(void) { return errno; }
static inline void cl_set_errno(int e) { errno = e; }

/* open(2) and openat(2) are variadic. */
int cl_open(const char *path, int flags, unsigned int mode);
int cl_openat(int dirfd, const char *path, int flags, unsigned int mode);
int cl_fcntl_int(int fd, int cmd, int arg);
int cl_ioctl_ptr(int fd, unsigned long req, void *arg);
int cl_ioctl_int(int fd, unsigned long req, unsigned long arg);
int cl_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);

/* stat mode predicates are macros. */
static inline int cl_s_isdir(unsigned int m) { return S_ISDIR(m); }
static inline int cl_s_isreg(unsigned int m) { return S_ISREG(m); }
static inline int cl_s_islnk(unsigned int m) { return S_ISLNK(m); }
static inline int cl_s_ischr(unsigned int m) { return S_ISCHR(m); }
static inline int cl_s_isblk(unsigned int m) { return S_ISBLK(m); }
static inline int cl_s_isfifo(unsigned int m) { return S_ISFIFO(m); }
static inline int cl_s_issock(unsigned int m) { return S_ISSOCK(m); }
static inline uint64_t cl_makedev(unsigned int ma, unsigned int mi) { return makedev(ma, mi); }
static inline unsigned int cl_major(uint64_t d) { return major(d); }
static inline unsigned int cl_minor(uint64_t d) { return minor(d); }

/* wait status macros. */
static inline int cl_wifexited(int s) { return WIFEXITED(s); }
static inline int cl_wexitstatus(int s) { return WEXITSTATUS(s); }
static inline int cl_wifsignaled(int s) { return WIFSIGNALED(s); }
static inline int cl_wtermsig(int s) { return WTERMSIG(s); }

/* Monotonic and wall clocks in nanoseconds. */
int64_t cl_monotonic_ns(void);
int64_t cl_realtime_ns(void);
#endif
