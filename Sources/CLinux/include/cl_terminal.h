#ifndef CL_TERMINAL_H
#define CL_TERMINAL_H
#include <stdint.h>
#include <sys/types.h>

#endif
