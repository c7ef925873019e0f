#ifndef CL_CAPS_H
#define CL_CAPS_H
#include <stdint.h>
#include <sys/types.h>

/* capget(2)/capset(2) on the calling thread with the v3 ABI (two 32-bit words per set),
 * exposed as 64-bit masks. glibc has no wrapper and the structs are awkward in Swift. */
int cl_capget(uint64_t *effective, uint64_t *permitted, uint64_t *inheritable);
int cl_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable);

#endif
