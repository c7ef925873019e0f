#include "clinux.h"
#include "cl_uml.h"
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

unsigned int cl_xsave_size(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27)))   /* OSXSAVE */
        return 0;
    if (!__get_cpuid_count(0xd, 0, &a, &b, &c, &d)) return 0;
    return b;
#else
    return 0;
#endif
}
