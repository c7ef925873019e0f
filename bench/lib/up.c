/* The container process whose start bench/uml.sh times: its first act creates /tmp/up, then
 * it waits until killed. No C library and one page of code: in a UML guest every page a
 * program touches first is a fault the host serves through ptrace (busybox sh costs ~13 ms
 * there before it runs a command), and the time measured is to be the runtime's.
 * x86-64 only, as the UML tier is. Build: gcc -static -nostdlib -O2 -fno-stack-protector */
#include <fcntl.h>
#include <sys/syscall.h>

static long call3(long number, long a, long b, long c) {
    long result;
    __asm__ volatile("syscall" : "=a"(result) : "a"(number), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return result;
}

void _start(void) {
    long fd = call3(SYS_open, (long)"/tmp/up", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) call3(SYS_close, fd, 0, 0);
    for (;;) call3(SYS_pause, 0, 0, 0);
}
