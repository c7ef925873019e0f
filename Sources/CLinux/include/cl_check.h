#ifndef CL_CHECK_H
#define CL_CHECK_H
#include <stdint.h>
#include <sys/types.h>

/* landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION): the Landlock ABI
 * version (>= 1), or -1 with errno (ENOSYS: not built, EOPNOTSUPP: disabled at boot).
 * glibc has no wrapper. */
int cl_landlock_abi_version(void);

#endif
