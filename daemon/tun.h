#ifndef MINITCP_TUN_H
#define MINITCP_TUN_H

#include <stddef.h>

/* Opens (creating if absent) the TUN device name with IFF_TUN|IFF_NO_PI, non-blocking.
 * The actual name is written to actual (IFNAMSIZ bytes). Returns the fd or -errno. */
int tun_open(const char *name, char *actual, size_t actual_len);
/* MTU of the interface, or -errno. */
int tun_mtu(const char *name);

#endif
