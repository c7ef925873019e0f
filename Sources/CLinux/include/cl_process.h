#ifndef CL_PROCESS_H
#define CL_PROCESS_H
#include <stdint.h>
#include <sys/types.h>

#endif
