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

int tun_open(const char *name, char *actual, size_t actual_len)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    snprintf(actual, actual_len, "%s", ifr.ifr_name);
    return fd;
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
