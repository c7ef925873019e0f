#include "clinux.h"
#include "cl_uml.h"
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

int cl_file_contains(int fd, const char *marker) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    if (st.st_size == 0) return 0;
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) return -1;
    int found = memmem(map, (size_t)st.st_size, marker, strlen(marker)) != NULL;
    munmap(map, (size_t)st.st_size);
    return found;
}

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
