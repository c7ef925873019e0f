#ifndef SWIFTLET_TEST_CHILD_ENTRY_H
#define SWIFTLET_TEST_CHILD_ENTRY_H
/* The entry of a test child: see entry.c. Nothing to call from Swift. */
#endif
