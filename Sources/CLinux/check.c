#include "clinux.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444 /* the same number on every architecture */
#endif

int cl_landlock_abi_version(void) {
    return (int)syscall(SYS_landlock_create_ruleset, NULL, (size_t)0, 1U /* LANDLOCK_CREATE_RULESET_VERSION */);
}
