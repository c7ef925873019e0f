/* Prints the size in bytes of the host's XSAVE area for the features its kernel enabled
 * (CPUID leaf 0xD, sub-leaf 0, EBX), 0 without XSAVE: what decides the UML FPU workaround
 * (e2e/uml/guest.sh, as UMLHost.fpu does for the tier). */
#include <cpuid.h>
#include <stdio.h>

int main(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27)) || !__get_cpuid_count(0xd, 0, &a, &b, &c, &d)) b = 0;
    printf("%u\n", b);
    return 0;
}
