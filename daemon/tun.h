#ifndef MINITCP_TUN_H
#define MINITCP_TUN_H

#include <stddef.h>

/* Opens (creating if absent) the TUN device name with IFF_TUN|IFF_NO_PI, non-blocking.
 * The actual name is written to actual (IFNAMSIZ bytes). Returns the fd or -errno. */
int tun_open(const char *name, char *actual, size_t actual_len);
/* The same with IFF_VNET_HDR (every read and write begins with a virtio-net header,
 * net/vnet.h) and TUNSETOFFLOAD: checksum offload, TSO for IPv4 and IPv6. When the
 * kernel refuses either, the device is opened as tun_open does and *offload_err is set
 * to the errno (0 when offloads are on). Returns the fd or -errno. */
int tun_open_offload(const char *name, char *actual, size_t actual_len, int *offload_err);
/* MTU of the interface, or -errno. */
int tun_mtu(const char *name);

#endif
