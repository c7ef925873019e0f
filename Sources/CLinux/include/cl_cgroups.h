#ifndef CL_CGROUPS_H
#define CL_CGROUPS_H
#include <stdint.h>
#include <sys/types.h>

#endif
