#ifndef CL_NET_H
#define CL_NET_H

/* Sets IFF_UP on "lo" in the caller's network namespace (SIOCGIFFLAGS/SIOCSIFFLAGS on a
 * datagram socket: AF_INET, or AF_UNIX on a kernel without IPv4; struct ifreq's unions are
 * awkward in Swift). 0, or -1 with errno. */
int cl_loopback_up(void);
#endif
