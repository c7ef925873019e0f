#ifndef CL_SECCOMP_H
#define CL_SECCOMP_H
#include <stdint.h>
#include <sys/types.h>

#endif
