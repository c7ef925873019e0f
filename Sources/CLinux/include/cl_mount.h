#ifndef CL_MOUNT_H
#define CL_MOUNT_H
#include <stdint.h>
#include <sys/types.h>

#endif
