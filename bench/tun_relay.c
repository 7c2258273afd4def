/* tun_relay: copies IP packets between two TUN devices, one packet per read() and one per
 * write(), in one thread: the ceiling for any user-space stack that reads a TUN a packet at a
 * time, with the kernel's TCP at both ends.
 *
 *   tun_relay NETNS_A:TUN_A NETNS_B:TUN_B
 *
 * Each TUN device lives in its own network namespace (a name under /run/netns); the relay
 * enters each namespace in turn to attach to its device, so neither needs to be moved and
 * nothing is created in the namespace the relay was started from. Stops on SIGTERM/SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define READS_PER_WAKEUP 64

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int open_tun_in(const char *spec)
{
    char ns[128], path[200];
    const char *colon = strchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof ns) {
        fprintf(stderr, "tun_relay: '%s' is not NETNS:TUN\n", spec);
        exit(2);
    }
    memcpy(ns, spec, (size_t)(colon - spec));
    ns[colon - spec] = 0;
    snprintf(path, sizeof path, "/run/netns/%s", ns);
    int nsfd = open(path, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
        fprintf(stderr, "tun_relay: enter %s: %s\n", path, strerror(errno));
        exit(1);
    }
    close(nsfd);
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    struct ifreq ifr = {.ifr_flags = IFF_TUN | IFF_NO_PI};
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", colon + 1);
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
        fprintf(stderr, "tun_relay: attach %s: %s\n", spec, strerror(errno));
        exit(1);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: tun_relay NETNS_A:TUN_A NETNS_B:TUN_B\n");
        return 2;
    }
    int fd[2] = {open_tun_in(argv[1]), open_tun_in(argv[2])};
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    unsigned long long pkts[2] = {0}, drops[2] = {0};
    static uint8_t buf[65536];
    fprintf(stderr, "tun_relay: relaying %s <-> %s\n", argv[1], argv[2]);
    while (!stop) {
        struct pollfd p[2] = {{.fd = fd[0], .events = POLLIN}, {.fd = fd[1], .events = POLLIN}};
        if (poll(p, 2, 500) < 0) {
            if (errno == EINTR) continue;
            perror("tun_relay: poll");
            return 1;
        }
        for (int s = 0; s < 2; s++) {
            if (!(p[s].revents & POLLIN)) continue;
            for (int i = 0; i < READS_PER_WAKEUP; i++) {
                ssize_t n = read(fd[s], buf, sizeof buf);
                if (n <= 0) break;
                if (write(fd[1 - s], buf, (size_t)n) != n) drops[s]++;
                pkts[s]++;
            }
        }
    }
    fprintf(stderr, "tun_relay: a->b %llu packets (%llu not written), b->a %llu (%llu)\n",
            pkts[0], drops[0], pkts[1], drops[1]);
    return 0;
}
