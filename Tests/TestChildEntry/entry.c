/* A test child (TestSupport's TestChild) is this test binary started again by posix_spawn
 * with SWIFTLET_TEST_CHILD_MODULE set. Before main, while the process still has a single
 * thread and no test runner, it runs the named body of that test module through the
 * module's exported entry swiftlet_test_child_<Module> and exits: privileged test code
 * never runs in a fork of the multithreaded runner, where another thread may hold a lock. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "TestChildEntry.h"

__attribute__((constructor)) static void swiftlet_test_child_entry(void) {
    const char *module = getenv("SWIFTLET_TEST_CHILD_MODULE");
    if (module == NULL) return;
    char symbol[128];
    snprintf(symbol, sizeof symbol, "swiftlet_test_child_%s", module);
    int (*run)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, symbol);
    if (run == NULL) {
        dprintf(2, "test child: no entry %s in this binary\n", symbol);
        _exit(127);
    }
    _exit(run());
}
