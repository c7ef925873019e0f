#ifndef CL_SOCKET_H
#define CL_SOCKET_H
#include <stdint.h>
#include <sys/types.h>

#endif
