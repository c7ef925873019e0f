/*
 * avxregs: keeps known values in the vector registers across many context switches and checks
 * them, for a guest kernel that must save and restore a process's whole FPU state.
 *
 *   avxregs ROUNDS [signals]
 *       two processes and two threads of one of them, each with its own values in zmm0-31 and
 *       k1-7 (AVX-512) or ymm0-14 (AVX), yielding and spinning ROUNDS times; prints
 *       "avxregs ok ..." or "avxregs FAIL ..." and exits 0/1 (2: no AVX to check). With
 *       `signals`, a timer signal interrupts them every millisecond and its handler overwrites
 *       every vector register, as a handler calling memcpy may: the kernel must restore the
 *       interrupted state on sigreturn.
 *
 * Threads matter: User Mode Linux runs all threads of a process in one host process, so only
 * what the kernel saves survives a switch between them.
 *
 * Build: cc -O2 -static -pthread -o avxregs avxregs.c
 */
#include <cpuid.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define R(op, n) op(n)
#define REGS16(op) R(op,0) R(op,1) R(op,2) R(op,3) R(op,4) R(op,5) R(op,6) R(op,7) \
    R(op,8) R(op,9) R(op,10) R(op,11) R(op,12) R(op,13) R(op,14) R(op,15)
#define REGS32(op) REGS16(op) R(op,16) R(op,17) R(op,18) R(op,19) R(op,20) R(op,21) R(op,22) \
    R(op,23) R(op,24) R(op,25) R(op,26) R(op,27) R(op,28) R(op,29) R(op,30) R(op,31)
#define K7(op) R(op,1) R(op,2) R(op,3) R(op,4) R(op,5) R(op,6) R(op,7)
#define S(x) #x

/* One round: a sched_yield and a spin long enough for the timer to preempt now and then. */
#define ROUND "mov $24, %%eax\n\tsyscall\n\tmov $200000, %%r13d\n2:\tdec %%r13d\n\tjnz 2b\n\t"

#define ZLOAD(n) "vmovdqu64 " S(n) "*64(%[ref]), %%zmm" S(n) "\n\t"
#define ZCHECK(n) "vpcmpq $4, " S(n) "*64(%[ref]), %%zmm" S(n) ", %%k0\n\tkortestb %%k0, %%k0\n\tjnz 3f\n\t"
#define KLOAD(n) "kmovq " S(n) "*8+2048(%[ref]), %%k" S(n) "\n\t"
#define KCHECK(n) "kmovq %%k" S(n) ", %%r14\n\tcmp " S(n) "*8+2048(%[ref]), %%r14\n\tjne 3f\n\t"

__attribute__((target("avx512f,avx512bw")))
static int check_avx512(const uint64_t *ref, long rounds) {
    int bad;
    __asm__ volatile(
        REGS32(ZLOAD) K7(KLOAD)
        "1:\n\t" ROUND REGS32(ZCHECK) K7(KCHECK)
        "dec %[n]\n\tjnz 1b\n\txor %%eax, %%eax\n\tjmp 4f\n"
        "3:\tmov $1, %%eax\n"
        "4:\n"
        : "=&a"(bad), [n] "+r"(rounds)
        : [ref] "r"(ref)
        : "rcx", "r11", "r13", "r14", "memory", "cc",
          "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
          "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20",
          "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30",
          "xmm31", "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7");
    return bad;
}

#define YLOAD(n) "vmovdqu " S(n) "*64(%[ref]), %%ymm" S(n) "\n\t"
#define YCHECK(n) "vpcmpeqq " S(n) "*64(%[ref]), %%ymm" S(n) ", %%ymm15\n\tvpmovmskb %%ymm15, %%r14d\n\tcmp $-1, %%r14d\n\tjne 3f\n\t"
#define REGS15(op) R(op,0) R(op,1) R(op,2) R(op,3) R(op,4) R(op,5) R(op,6) R(op,7) \
    R(op,8) R(op,9) R(op,10) R(op,11) R(op,12) R(op,13) R(op,14)

__attribute__((target("avx2")))
static int check_avx(const uint64_t *ref, long rounds) {
    int bad;
    __asm__ volatile(
        REGS15(YLOAD)
        "1:\n\t" ROUND REGS15(YCHECK)
        "dec %[n]\n\tjnz 1b\n\txor %%eax, %%eax\n\tjmp 4f\n"
        "3:\tmov $1, %%eax\n"
        "4:\n"
        : "=&a"(bad), [n] "+r"(rounds)
        : [ref] "r"(ref)
        : "rcx", "r11", "r13", "r14", "memory", "cc",
          "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
          "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    return bad;
}

/* The handler's writes: all ones in every register the workers check. */
#define ZONES(n) "vpternlogd $0xff, %%zmm" S(n) ", %%zmm" S(n) ", %%zmm" S(n) "\n\t"
#define KONES(n) "kxnorq %%k0, %%k0, %%k" S(n) "\n\t"
__attribute__((target("avx512f,avx512bw")))
static void clobber_avx512(int sig) {
    (void)sig;
    __asm__ volatile(REGS32(ZONES) K7(KONES) ::: "memory",
        "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20",
        "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30",
        "xmm31", "k1", "k2", "k3", "k4", "k5", "k6", "k7");
}
#define YONES(n) "vpcmpeqd %%ymm" S(n) ", %%ymm" S(n) ", %%ymm" S(n) "\n\t"
__attribute__((target("avx2")))
static void clobber_avx(int sig) {
    (void)sig;
    __asm__ volatile(REGS16(YONES) ::: "memory",
        "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

static int width;   /* 512, 256, or 0 when the CPU or the kernel offers no AVX */
static long rounds;

static void detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27)) || !(c & (1u << 28))) return;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0x6) != 0x6) return;
    width = 256;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 16)) && (b & (1u << 30)) && (lo & 0xe0) == 0xe0)
        width = 512;
}

/* Values no other worker uses: every 64-bit lane differs by worker, register and lane. */
static int run(unsigned worker) {
    static __thread uint64_t ref[256 + 8] __attribute__((aligned(64)));
    for (unsigned i = 0; i < 256; i++)
        ref[i] = 0x9e3779b97f4a7c15ull * (worker * 256 + i + 1) ^ ((uint64_t)worker << 56);
    for (unsigned i = 0; i < 8; i++) ref[256 + i] = 0xa5a5000000000000ull ^ ((uint64_t)worker << 32) ^ (i * 0x01010101u);
    return width == 512 ? check_avx512(ref, rounds) : check_avx(ref, rounds);
}

static void *thread_main(void *arg) { return (void *)(intptr_t)run((unsigned)(uintptr_t)arg); }

int main(int argc, char **argv) {
    rounds = argc > 1 ? atol(argv[1]) : 2000;
    detect();
    if (width == 0 || rounds <= 0) { printf("avxregs skip: no AVX here (cpu or kernel)\n"); return 2; }
    int signals = argc > 2 && strcmp(argv[2], "signals") == 0;
    if (signals) {
        struct sigaction sa = {.sa_handler = width == 512 ? clobber_avx512 : clobber_avx, .sa_flags = SA_RESTART};
        sigaction(SIGALRM, &sa, NULL);
        struct itimerval it = {{0, 1000}, {0, 1000}};
        setitimer(ITIMER_REAL, &it, NULL);   /* the child inherits the handler, not the timer */
    }
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) { perror("avxregs: fork"); return 1; }
    if (child == 0) {
        if (signals) {
            struct itimerval it = {{0, 1000}, {0, 1000}};
            setitimer(ITIMER_REAL, &it, NULL);
        }
        _exit(run(1) ? 1 : 0);
    }
    pthread_t t[2];
    for (uintptr_t i = 0; i < 2; i++) pthread_create(&t[i], NULL, thread_main, (void *)(i + 2));
    int failed = run(4) ? 1 : 0;
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        if (r) failed |= 1 << (i + 1);
    }
    int status;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) failed |= 8;
    if (failed) {
        printf("avxregs FAIL %d-bit registers changed across switches%s:%s%s%s%s\n", width,
               signals ? " and signals" : "",
               failed & 1 ? " main" : "", failed & 2 ? " thread1" : "", failed & 4 ? " thread2" : "",
               failed & 8 ? " child" : "");
        return 1;
    }
    printf("avxregs ok %d-bit registers kept by 4 workers over %ld rounds each%s\n", width, rounds,
           signals ? ", with signal handlers overwriting them" : "");
    return 0;
}
