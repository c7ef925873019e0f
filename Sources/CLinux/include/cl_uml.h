#ifndef CL_UML_H
#define CL_UML_H
#include <sys/inotify.h>
#include <sys/reboot.h>

/* The size in bytes of the XSAVE area for the features the host kernel enabled (CPUID leaf
 * 0xD, sub-leaf 0, EBX); 0 where there is no CPUID or no XSAVE. */
unsigned int cl_xsave_size(void);

/* 1 if the kernel image open at fd contains the bytes of marker (a UML kernel built with
 * uml/patches/xstate.patch names itself so), 0 if not, -1 with errno set on error. */
int cl_file_contains(int fd, const char *marker);
#endif
