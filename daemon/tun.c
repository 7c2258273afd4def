#include "tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int open_flags(const char *name, char *actual, size_t actual_len, short flags)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = flags;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    snprintf(actual, actual_len, "%s", ifr.ifr_name);
    return fd;
}

int tun_open(const char *name, char *actual, size_t actual_len)
{
    int fd = open_flags(name, actual, actual_len, IFF_TUN | IFF_NO_PI);
    /* A persistent device keeps the offloads an earlier reader turned on: without a
     * virtio-net header to say so, super-packets and partial checksums would come in. */
    if (fd >= 0) (void)ioctl(fd, TUNSETOFFLOAD, 0UL);
    return fd;
}

int tun_open_offload(const char *name, char *actual, size_t actual_len, int *offload_err)
{
    int fd = open_flags(name, actual, actual_len, IFF_TUN | IFF_NO_PI | IFF_VNET_HDR);
    if (fd == -EPERM || fd == -EACCES || fd == -ENOENT) return fd; /* not about offload */
    if (fd >= 0) {
        int e = 0;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        int le = 1; /* net/vnet.h writes little-endian fields */
        if (ioctl(fd, TUNSETVNETLE, &le) < 0) e = errno;
#endif
        /* TUN_F_CSUM: partial checksums both ways; TSO4/TSO6: super-packets both ways */
        unsigned long off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
        if (!e && ioctl(fd, TUNSETOFFLOAD, off) < 0) e = errno;
        if (!e) {
            *offload_err = 0;
            return fd;
        }
        close(fd);
        fd = -e;
    }
    *offload_err = -fd;
    return tun_open(name, actual, actual_len);
}

/* When no AF_INET socket may be opened (the unit's RestrictAddressFamilies=AF_UNIX). /sys
 * shows the namespace it was mounted in, so the ioctl comes first. */
static int mtu_from_sysfs(const char *name)
{
    char path[64];
    snprintf(path, sizeof path, "/sys/class/net/%s/mtu", name);
    FILE *f = fopen(path, "re");
    if (!f) return -errno;
    int mtu = -EINVAL;
    if (fscanf(f, "%d", &mtu) != 1) mtu = -EINVAL;
    fclose(f);
    return mtu;
}

int tun_mtu(const char *name)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return mtu_from_sysfs(name);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    int r = ioctl(s, SIOCGIFMTU, &ifr) < 0 ? -errno : ifr.ifr_mtu;
    close(s);
    return r;
}
