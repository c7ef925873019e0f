#ifndef CL_TERMINAL_H
#define CL_TERMINAL_H
#include <stdint.h>
#include <sys/types.h>
#include <termios.h>   /* tcgetattr, cfmakeraw for Swift */

/* The pty ioctls are function-like macros (_IO/_IOR) that Swift cannot import. */

/* TIOCGPTPEER (Linux 4.13+): opens the peer of a pty master without a path lookup.
 * Returns the new fd or -1 with errno. */
int cl_pty_peer(int master, int flags);
/* TIOCGPTN: the index N of the peer /dev/pts/N. */
int cl_pty_number(int master, unsigned int *number);
/* TIOCSPTLCK with 0: unlocks the peer so it can be opened. */
int cl_pty_unlock(int master);

/* TIOCGWINSZ / TIOCSWINSZ. */
int cl_get_window_size(int fd, unsigned short *rows, unsigned short *columns);
int cl_set_window_size(int fd, unsigned short rows, unsigned short columns);
/* TIOCSCTTY: makes the tty on fd the controlling terminal of the caller's session. */
int cl_set_controlling_terminal(int fd);
#endif
