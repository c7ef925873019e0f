#ifndef CL_CAPS_H
#define CL_CAPS_H
#include <stdint.h>
#include <sys/types.h>

#endif
