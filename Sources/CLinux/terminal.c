#include "clinux.h"
#include <sys/ioctl.h>
#include <termios.h>

int cl_pty_peer(int master, int flags) {
#ifdef TIOCGPTPEER
    return ioctl(master, TIOCGPTPEER, flags);
#else
    (void)master; (void)flags;
    errno = ENOTTY;
    return -1;
#endif
}

int cl_pty_number(int master, unsigned int *number) {
    return ioctl(master, TIOCGPTN, number);
}

int cl_pty_unlock(int master) {
    int unlock = 0;
    return ioctl(master, TIOCSPTLCK, &unlock);
}

int cl_get_window_size(int fd, unsigned short *rows, unsigned short *columns) {
    struct winsize ws = {0};
    if (ioctl(fd, TIOCGWINSZ, &ws) != 0) return -1;
    *rows = ws.ws_row;
    *columns = ws.ws_col;
    return 0;
}

int cl_set_window_size(int fd, unsigned short rows, unsigned short columns) {
    struct winsize ws = {0};
    ws.ws_row = rows;
    ws.ws_col = columns;
    return ioctl(fd, TIOCSWINSZ, &ws);
}

int cl_set_controlling_terminal(int fd) {
    return ioctl(fd, TIOCSCTTY, 0);
}
