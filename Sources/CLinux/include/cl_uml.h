#ifndef CL_UML_H
#define CL_UML_H
#include <sys/inotify.h>
#include <sys/reboot.h>

/* The size in bytes of the XSAVE area for the features the host kernel enabled (CPUID leaf
 * 0xD, sub-leaf 0, EBX); 0 where there is no CPUID or no XSAVE. */
unsigned int cl_xsave_size(void);
#endif
