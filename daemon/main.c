/* minitcpd: owns the TUN device and the stack core, serves client programs over a Unix
 * socket. Thin wiring only: one libev loop, a watcher on the TUN fd, one timer armed at
 * the core's earliest deadline, signal watchers, and the client server (uds_transport.c). */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "net/ip.h"
#include "net/ip6.h"
#include "capture.h"
#include "net/vnet.h"
#include "pcap.h"
#include "privdrop.h"
#include "syscall_filter.h"
#include "tun.h"

#define DEFAULT_SOCKET "/run/minitcp/minitcpd.sock"
#define TUN_READS_PER_WAKEUP 256

stack_time_t daemon_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (stack_time_t)ts.tv_sec * 1000 + (stack_time_t)ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: minitcpd [options]\n"
            "A user-space TCP/IP stack on a TUN device.\n\n"
            "  --tun NAME          TUN device to open, created if absent (default tun0)\n"
            "  --addr A.B.C.D      the stack's own IPv4 address (default 10.0.0.2)\n"
            "  --addr6 ADDR        also an IPv6 address (e.g. fd00::2): ICMPv6 echo and\n"
            "                      errors, the UDP echo; no TCP or sockets over IPv6 yet\n"
            "                      (default: no IPv6)\n"
            "  --trace             print every packet and state change\n"
            "  --offload on|off    TUN offloads: the kernel hands over and takes TCP\n"
            "                      super-packets of up to 64 KiB (GSO/TSO) with partial\n"
            "                      checksums; off, or refused by the kernel (logged):\n"
            "                      one packet per read and write (default on)\n"
            "  --udp-echo PORT     built-in UDP echo service port, 0 = off (default 9000)\n"
            "  --tcp-echo PORT     built-in TCP echo service port, 0 = off (default 0)\n"
            "  --socket PATH       client Unix socket (default " DEFAULT_SOCKET ")\n"
            "  --no-socket         serve no clients (built-in services only)\n"
            "  --socket-group NAME group allowed to use the socket (mode 0660)\n"
            "  --msl MS            maximum segment lifetime; TIME_WAIT = 2*MSL (default 30000)\n"
            "  --rto-min MS        minimum retransmission timeout (default 200)\n"
            "  --rto-initial MS    initial retransmission timeout (default 1000)\n"
            "  --cc NAME           congestion control of new connections: cubic (RFC 9438,\n"
            "                      with HyStart++) or newreno (RFC 5681); a program may\n"
            "                      choose per socket (MINITCP_TCP_CONGESTION) (default cubic)\n"
            "  --max-retries N     retransmissions before a connection times out (default 15)\n"
            "  --time-wait-max N   TIME_WAIT entries kept; the oldest is dropped beyond (default "
            "32768)\n"
            "  --max-conns N       connections (excluding TIME_WAIT) (default 65536)\n"
            "  --syn-backlog N     half-open connections of all listeners (default 4096)\n"
            "  --syncookies N      0 never, 1 when a listen queue is flooded, 2 always\n"
            "                      (default 1)\n"
            "  --max-orphans N     connections closed by their program but not finished;\n"
            "                      beyond, a closing connection is reset (default max-conns/4)\n"
            "  --orphan-retries N  an orphan's retransmissions or zero-window probes before\n"
            "                      it is aborted (default 8)\n"
            "  --challenge-ack-limit N  RFC 5961 challenge ACKs per second, all connections,\n"
            "                      randomized N/2..3N/2; 0 = no global limit (default 1000;\n"
            "                      always at most one per 500 ms per connection)\n"
            "  --rcvbuf BYTES      per-connection receive buffer (default 262144)\n"
            "  --sndbuf BYTES      per-connection send buffer (default 262144)\n"
            "  --mem-max SIZE      bound on the buffers of all sockets together, with a K, M\n"
            "                      or G suffix; under pressure windows shrink and buffers\n"
            "                      stop growing (default min(1G, RAM/8))\n"
            "  --frag-mem-max SIZE bound on IPv4 fragments held for reassembly, K/M suffix;\n"
            "                      one source address at most a quarter (default 4M, as\n"
            "                      Linux's ipfrag_high_thresh)\n"
            "  --frag-timeout MS   reassembly timeout (default 30000)\n"
            "  --max-clients N     client programs connected at once (default 4096)\n"
            "  --max-clients-per-uid N  of them, per user id (default 1024); beyond: EUSERS\n"
            "  --max-socks-per-uid N  sockets of all the clients of one user id (default\n"
            "                      65536); beyond: EMFILE, and listeners stop accepting\n"
            "  --max-buffered-per-uid SIZE  socket buffers (K/M/G) of one user id's\n"
            "                      connections; beyond, its windows and send space shrink\n"
            "                      as under memory pressure, not others' (default half of\n"
            "                      --mem-max)\n"
            "  --privileged-group NAME  its members may bind ports below 1024 (as root may;\n"
            "                      anyone else gets EACCES)\n"
            "  --capture-group NAME  its members may stream a live capture (minitcpctl\n"
            "                      capture), as root may; anyone else gets EACCES\n"
            "  --busy-poll US      after traffic, poll without sleeping for US microseconds\n"
            "                      (lower request/response latency for some CPU; 0 = off;\n"
            "                      default 50)\n"
            "  --pcap FILE         write every IP packet, both directions, to FILE (pcap,\n"
            "                      LINKTYPE_RAW, mode 0600); a write error stops the capture\n"
            "  --pcap-ns           nanosecond timestamps (default microseconds)\n"
            "  --pcap-snaplen N    bytes kept of each packet (default 262144)\n"
            "  --pcap-max SIZE     at SIZE (K/M/G suffix), FILE is renamed FILE.1 (replacing\n"
            "                      it) and a new FILE begins (default: no limit)\n"
            "  --user USER         after opening the TUN device and the socket, become USER\n"
            "                      (its uid, group and groups) with no capability at all and\n"
            "                      no_new_privs; a TUN device created beforehand for USER\n"
            "                      (ip tuntap add NAME mode tun user USER) needs no privilege\n"
            "  --shm on|off        let clients move their frames to shared-memory rings\n"
            "                      (default on; off: every client stays on the socket)\n"
            "  --seccomp on|off    once up, every system call outside an allow-list kills\n"
            "                      the daemon (default on; off in sanitizer builds)\n"
            "  --seccomp-selftest  make a forbidden call (socket(AF_INET)) right after the\n"
            "                      filter is in place: the daemon must die of SIGSYS\n"
            "  --version           print the version and exit\n"
            "  -h, --help          this text\n");
}

static int parse_uint(const char *opt, const char *s, unsigned long min, unsigned long max,
                      unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
        fprintf(stderr, "minitcpd: %s: '%s' is not a number in %lu..%lu\n", opt, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* SIZE with an optional K/M/G suffix (powers of 1024). */
static int parse_size(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    uint64_t mul = 1;
    if (end != s && *end) {
        switch (*end) {
        case 'k':
        case 'K':
            mul = 1ull << 10;
            break;
        case 'm':
        case 'M':
            mul = 1ull << 20;
            break;
        case 'g':
        case 'G':
            mul = 1ull << 30;
            break;
        default:
            mul = 0;
            break;
        }
        end++;
    }
    if (errno || end == s || *end || s[0] == '-' || mul == 0 || v > max / mul || v * mul < min) {
        fprintf(stderr, "minitcpd: %s: '%s' is not a size in %llu..%llu (K, M, G suffixes)\n", opt,
                s, (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = v * mul;
    return 0;
}

/* The default bound: 1 GiB, or an eighth of the machine's memory when that is less. */
static uint64_t default_mem_max(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    uint64_t max = 1ull << 30;
    if (pages > 0 && psize > 0 && (uint64_t)pages * (uint64_t)psize / 8 < max)
        max = (uint64_t)pages * (uint64_t)psize / 8;
    return max;
}

static bool capturing(const struct daemon *d)
{
    return d->pcap || (d->live && d->live->readers);
}

static void capture(struct daemon *d, const uint8_t *pkt, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (d->pcap) pcap_packet(d->pcap, pkt, len, &ts);
    if (d->live) capture_packet(d->live, pkt, len, &ts);
}

static void on_output(void *ctx, const uint8_t *pkt, size_t len)
{
    struct daemon *d = ctx;
    if (capturing(d)) capture(d, pkt, len);
    if (write(d->tun_fd, pkt, len) < 0) ((struct stack_stats *)stack_stats(d->st))->ip_tx_errors++;
}

static uint8_t seg_scratch[65536]; /* vnet_segment's packets */

static void capture_cb(void *ctx, const uint8_t *pkt, size_t len)
{
    capture(ctx, pkt, len);
}

/* A capture shows what crosses the link: a super-packet as its segments, a partial
 * checksum finished (as the kernel does with them). */
static void capture_vnet(struct daemon *d, const uint8_t *pkt, size_t len, const struct vnet_hdr *h)
{
    if (!(h->flags & VNET_F_NEEDS_CSUM) && h->gso_type == VNET_GSO_NONE) {
        capture(d, pkt, len);
        return;
    }
    if (vnet_segment(pkt, len, h, seg_scratch, capture_cb, d) < 0) capture(d, pkt, len);
}

static void write_plain_cb(void *ctx, const uint8_t *pkt, size_t len)
{
    struct daemon *d = ctx;
    uint8_t h[VNET_HDR_LEN] = {0};
    struct iovec iov[2] = {{h, sizeof h}, {(void *)pkt, len}};
    if (writev(d->tun_fd, iov, 2) < 0) ((struct stack_stats *)stack_stats(d->st))->ip_tx_errors++;
}

/* With offloads: every packet goes with a virtio-net header saying what the kernel is
 * to finish (checksum) or cut (a super-packet). */
static void on_output_meta(void *ctx, const uint8_t *pkt, size_t len, const struct stack_tx_meta *m)
{
    struct daemon *d = ctx;
    uint8_t b[VNET_HDR_LEN];
    vnet_tx_hdr(b, pkt, m);
    struct vnet_hdr h;
    vnet_hdr_decode(b, &h);
    if (capturing(d)) capture_vnet(d, pkt, len, &h);
    struct iovec iov[2] = {{b, sizeof b}, {(void *)pkt, len}};
    if (writev(d->tun_fd, iov, 2) >= 0) return;
    struct stack_stats *s = (struct stack_stats *)stack_stats(d->st);
    if (errno != EINVAL || !m->gso_size) {
        s->ip_tx_errors++;
        return;
    }
    /* the kernel will not take super-packets after all: cut this one here, and have
     * the core send single segments from now on */
    s->gso_tx_refused++;
    if (!d->tx_refused) {
        d->tx_refused = true;
        fprintf(stderr,
                "minitcpd: %s refused a TSO super-packet (%s): segmenting in the "
                "daemon from now on\n",
                d->tun_name, strerror(errno));
        stack_set_tx_offload(d->st, false);
    }
    if (vnet_segment(pkt, len, &h, seg_scratch, write_plain_cb, d) < 0) s->ip_tx_errors++;
}

static void on_event(void *ctx, int handle, unsigned events)
{
    server_on_stack_event(ctx, handle, events);
}

static void on_trace(void *ctx, const char *line)
{
    (void)ctx;
    fputs(line, stdout);
    fputc('\n', stdout);
}

static void tun_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct daemon *d = w->data;
    static uint8_t buf[VNET_RX_BUF];
    /* without a virtio-net header, as before: one packet of at most 65535 bytes */
    size_t cap = d->vnet ? sizeof buf : 65536;
    for (int i = 0; i < TUN_READS_PER_WAKEUP; i++) {
        ssize_t n = read(d->tun_fd, buf, cap);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                fprintf(stderr, "minitcpd: read %s: %s\n", d->tun_name, strerror(errno));
            return;
        }
        if (!d->vnet) {
            if (capturing(d)) capture(d, buf, (size_t)n);
            stack_input(d->st, buf, (size_t)n, daemon_now());
            continue;
        }
        struct vnet_rx rx;
        enum vnet_result r = vnet_rx_prepare(buf, (size_t)n, cap, &rx);
        struct stack_stats *s = (struct stack_stats *)stack_stats(d->st);
        if (r != VNET_OK) {
            vnet_count_drop(s, r);
            if (d->opt.trace)
                printf("[TUN ] drop len=%zd reason=virtio-net header: %s\n", n,
                       vnet_result_name(r));
            continue;
        }
        if (rx.csum_completed) s->vnet_csum_completed++;
        if (capturing(d)) capture_vnet(d, rx.pkt, rx.len, &rx.h);
        struct stack_rx_meta m = {.csum_ok = rx.csum_ok, .gso_size = rx.gso_size};
        stack_input_meta(d->st, rx.pkt, rx.len, daemon_now(), &m);
    }
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct daemon *d = w->data;
    stack_time_t now = daemon_now();
    stack_poll(d->st, now);
    /* buffers fell back after pressure: give the freed heap back (RSS follows) */
    if (stack_mem_trim_due(d->st, now)) malloc_trim(0);
}

/* Once per loop iteration, before blocking: arm the timer at the core's next deadline. */
static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    struct daemon *d = w->data;
    if (d->pcap) pcap_flush(d->pcap); /* what this iteration captured, before sleeping */
    stack_time_t next = stack_next_deadline(d->st);
    ev_timer_stop(loop, &d->timer);
    if (next == STACK_TIME_NEVER) return;
    stack_time_t now = daemon_now();
    double after = next > now ? (double)(next - now) / 1000.0 : 0.0;
    ev_timer_set(&d->timer, after, 0.0);
    ev_timer_start(loop, &d->timer);
}

static void notify_systemd(const char *msg)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path) return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (n >= sizeof sa.sun_path) return;
    memcpy(sa.sun_path, path, n);
    if (sa.sun_path[0] == '@') sa.sun_path[0] = 0; /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    if (sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sa, sl) < 0)
        fprintf(stderr, "minitcpd: sd_notify: %s\n", strerror(errno));
    close(fd);
}

static volatile int stop_requested;

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    (void)w;
    stop_requested = 1;
    ev_break(loop, EVBREAK_ALL);
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The loop. With --busy-poll US, after any packet in or out the loop keeps polling
 * without sleeping for up to US microseconds: a request/response peer (a client
 * program's reply, the kernel's next request) is then picked up without the cost of a
 * sleep and a wakeup. The cost is at most US of CPU per burst of traffic; with nothing
 * happening the loop blocks as usual and idle CPU is 0. */
static void run_loop(struct daemon *d, unsigned busy_poll_us)
{
    const struct stack_stats *s = stack_stats(d->st);
    while (!stop_requested) {
        ev_run(d->loop, EVRUN_ONCE);
        if (!busy_poll_us) continue;
        uint64_t seen = s->ip_rx_packets + s->ip_tx_packets;
        uint64_t until = now_us() + busy_poll_us;
        while (!stop_requested && now_us() < until) {
            ev_run(d->loop, EVRUN_NOWAIT);
            uint64_t n = s->ip_rx_packets + s->ip_tx_packets;
            if (n != seen) {
                seen = n;
                until = now_us() + busy_poll_us;
            }
        }
    }
}

int main(int argc, char **argv)
{
    struct daemon d;
    struct stack_config cfg;
    memset(&d, 0, sizeof d);
    stack_config_defaults(&cfg);
    cfg.udp_echo_port = 9000;
    d.opt.tun_name = "tun0";
    d.opt.socket_path = DEFAULT_SOCKET;
    d.opt.shm = true;
    ip_parse_addr("10.0.0.2", &d.opt.addr);

    enum {
        O_TUN = 256,
        O_ADDR,
        O_ADDR6,
        O_TRACE,
        O_UDP_ECHO,
        O_TCP_ECHO,
        O_SOCKET,
        O_NO_SOCKET,
        O_SOCKET_GROUP,
        O_MSL,
        O_RTO_MIN,
        O_RTO_INITIAL,
        O_CC,
        O_MAX_RETRIES,
        O_TW_MAX,
        O_MAX_CONNS,
        O_SYN_BACKLOG,
        O_SYNCOOKIES,
        O_MAX_ORPHANS,
        O_ORPHAN_RETRIES,
        O_CHALLENGE_ACK_LIMIT,
        O_RCVBUF,
        O_SNDBUF,
        O_BUSY_POLL,
        O_MEM_MAX,
        O_FRAG_MEM_MAX,
        O_FRAG_TIMEOUT,
        O_MAX_CLIENTS,
        O_MAX_CLIENTS_UID,
        O_MAX_SOCKS_UID,
        O_MAX_BUF_UID,
        O_PRIV_GROUP,
        O_CAPTURE_GROUP,
        O_USER,
        O_VERSION,
        O_PCAP,
        O_PCAP_NS,
        O_PCAP_SNAPLEN,
        O_PCAP_MAX,
        O_SECCOMP,
        O_SECCOMP_SELFTEST,
        O_OFFLOAD,
        O_SHM
    };
    static const struct option longopts[] = {
        {"tun", required_argument, 0, O_TUN},
        {"addr", required_argument, 0, O_ADDR},
        {"addr6", required_argument, 0, O_ADDR6},
        {"trace", no_argument, 0, O_TRACE},
        {"udp-echo", required_argument, 0, O_UDP_ECHO},
        {"tcp-echo", required_argument, 0, O_TCP_ECHO},
        {"socket", required_argument, 0, O_SOCKET},
        {"no-socket", no_argument, 0, O_NO_SOCKET},
        {"socket-group", required_argument, 0, O_SOCKET_GROUP},
        {"msl", required_argument, 0, O_MSL},
        {"rto-min", required_argument, 0, O_RTO_MIN},
        {"rto-initial", required_argument, 0, O_RTO_INITIAL},
        {"cc", required_argument, 0, O_CC},
        {"max-retries", required_argument, 0, O_MAX_RETRIES},
        {"time-wait-max", required_argument, 0, O_TW_MAX},
        {"max-conns", required_argument, 0, O_MAX_CONNS},
        {"syn-backlog", required_argument, 0, O_SYN_BACKLOG},
        {"syncookies", required_argument, 0, O_SYNCOOKIES},
        {"max-orphans", required_argument, 0, O_MAX_ORPHANS},
        {"orphan-retries", required_argument, 0, O_ORPHAN_RETRIES},
        {"challenge-ack-limit", required_argument, 0, O_CHALLENGE_ACK_LIMIT},
        {"rcvbuf", required_argument, 0, O_RCVBUF},
        {"sndbuf", required_argument, 0, O_SNDBUF},
        {"busy-poll", required_argument, 0, O_BUSY_POLL},
        {"mem-max", required_argument, 0, O_MEM_MAX},
        {"frag-mem-max", required_argument, 0, O_FRAG_MEM_MAX},
        {"frag-timeout", required_argument, 0, O_FRAG_TIMEOUT},
        {"max-clients", required_argument, 0, O_MAX_CLIENTS},
        {"max-clients-per-uid", required_argument, 0, O_MAX_CLIENTS_UID},
        {"max-socks-per-uid", required_argument, 0, O_MAX_SOCKS_UID},
        {"max-buffered-per-uid", required_argument, 0, O_MAX_BUF_UID},
        {"privileged-group", required_argument, 0, O_PRIV_GROUP},
        {"capture-group", required_argument, 0, O_CAPTURE_GROUP},
        {"user", required_argument, 0, O_USER},
        {"version", no_argument, 0, O_VERSION},
        {"pcap", required_argument, 0, O_PCAP},
        {"pcap-ns", no_argument, 0, O_PCAP_NS},
        {"pcap-snaplen", required_argument, 0, O_PCAP_SNAPLEN},
        {"pcap-max", required_argument, 0, O_PCAP_MAX},
        {"shm", required_argument, 0, O_SHM},
        {"seccomp", required_argument, 0, O_SECCOMP},
        {"seccomp-selftest", no_argument, 0, O_SECCOMP_SELFTEST},
        {"offload", required_argument, 0, O_OFFLOAD},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    unsigned long v;
    unsigned busy_poll_us = 50;
    long max_orphans = -1; /* default: a quarter of --max-conns */
    uint64_t size;
#ifdef MINITCP_SANITIZED
    bool seccomp_on = false; /* the sanitizers' runtime makes calls of its own */
#else
    bool seccomp_on = true;
#endif
    bool seccomp_selftest = false;
    bool offload = true;
    const char *pcap_path = NULL;
    bool pcap_ns = false;
    uint32_t pcap_snaplen = PCAP_SNAPLEN_DEFAULT;
    uint64_t pcap_max = 0;
    cfg.mem_max = default_mem_max();
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_TUN:
            if (strlen(optarg) == 0 || strlen(optarg) >= 16) {
                fprintf(stderr, "minitcpd: --tun: name must be 1..15 characters\n");
                return 2;
            }
            d.opt.tun_name = optarg;
            break;
        case O_ADDR:
            if (ip_parse_addr(optarg, &d.opt.addr) || d.opt.addr == 0) {
                fprintf(stderr, "minitcpd: --addr: '%s' is not an IPv4 address\n", optarg);
                return 2;
            }
            break;
        case O_ADDR6:
            if (ip6_parse_addr(optarg, cfg.addr6) || ip6_is_multicast(cfg.addr6) ||
                ip6_is_unspecified(cfg.addr6)) {
                fprintf(stderr, "minitcpd: --addr6: '%s' is not a unicast IPv6 address\n", optarg);
                return 2;
            }
            cfg.has_addr6 = true;
            break;
        case O_TRACE:
            d.opt.trace = true;
            break;
        case O_UDP_ECHO:
            if (parse_uint("--udp-echo", optarg, 0, 65535, &v)) return 2;
            cfg.udp_echo_port = (uint16_t)v;
            break;
        case O_TCP_ECHO:
            if (parse_uint("--tcp-echo", optarg, 0, 65535, &v)) return 2;
            cfg.tcp_echo_port = (uint16_t)v;
            break;
        case O_SOCKET:
            if (strlen(optarg) == 0 ||
                strlen(optarg) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
                fprintf(stderr, "minitcpd: --socket: path empty or too long\n");
                return 2;
            }
            d.opt.socket_path = optarg;
            break;
        case O_NO_SOCKET:
            d.opt.socket_path = NULL;
            break;
        case O_SOCKET_GROUP:
            d.opt.socket_group = optarg;
            break;
        case O_MSL:
            if (parse_uint("--msl", optarg, 1, 600000, &v)) return 2;
            cfg.msl_ms = (uint32_t)v;
            break;
        case O_RTO_MIN:
            if (parse_uint("--rto-min", optarg, 1, 60000, &v)) return 2;
            cfg.rto_min_ms = (uint32_t)v;
            break;
        case O_RTO_INITIAL:
            if (parse_uint("--rto-initial", optarg, 1, 60000, &v)) return 2;
            cfg.rto_initial_ms = (uint32_t)v;
            break;
        case O_CC: {
            int id = stack_cc_by_name(optarg);
            if (id < 0) {
                fprintf(stderr,
                        "minitcpd: --cc: unknown congestion control '%s' (cubic or newreno)\n",
                        optarg);
                return 2;
            }
            cfg.cc = (uint32_t)id;
            break;
        }
        case O_MAX_RETRIES:
            if (parse_uint("--max-retries", optarg, 1, 100, &v)) return 2;
            cfg.max_retries = (uint32_t)v;
            break;
        case O_TW_MAX:
            if (parse_uint("--time-wait-max", optarg, 0, 1000000, &v)) return 2;
            cfg.time_wait_max = (uint32_t)v;
            break;
        case O_MAX_CONNS:
            if (parse_uint("--max-conns", optarg, 1, 1000000, &v)) return 2;
            cfg.max_conns = (uint32_t)v;
            break;
        case O_SYN_BACKLOG:
            if (parse_uint("--syn-backlog", optarg, 1, 1000000, &v)) return 2;
            cfg.syn_queue_max = (uint32_t)v;
            break;
        case O_SYNCOOKIES:
            if (parse_uint("--syncookies", optarg, 0, 2, &v)) return 2;
            cfg.syncookies = (uint32_t)v;
            break;
        case O_MAX_ORPHANS:
            if (parse_uint("--max-orphans", optarg, 0, 1000000, &v)) return 2;
            max_orphans = (long)v;
            break;
        case O_ORPHAN_RETRIES:
            if (parse_uint("--orphan-retries", optarg, 0, 100, &v)) return 2;
            cfg.orphan_retries = (uint32_t)v;
            break;
        case O_CHALLENGE_ACK_LIMIT:
            if (parse_uint("--challenge-ack-limit", optarg, 0, 1000000, &v)) return 2;
            cfg.challenge_ack_limit = (uint32_t)v;
            break;
        case O_RCVBUF:
            if (parse_uint("--rcvbuf", optarg, 4096, 64u << 20, &v)) return 2;
            cfg.rcv_buf = (uint32_t)v;
            break;
        case O_SNDBUF:
            if (parse_uint("--sndbuf", optarg, 4096, 64u << 20, &v)) return 2;
            cfg.snd_buf = (uint32_t)v;
            break;
        case O_MEM_MAX:
            if (parse_size("--mem-max", optarg, 64ull << 10, 1ull << 40, &size)) return 2;
            cfg.mem_max = size;
            break;
        case O_FRAG_MEM_MAX:
            if (parse_size("--frag-mem-max", optarg, 64ull << 10, 1ull << 32, &size)) return 2;
            cfg.frag_mem_max = size;
            break;
        case O_FRAG_TIMEOUT:
            if (parse_uint("--frag-timeout", optarg, 1000, 120000, &v)) return 2;
            cfg.frag_timeout_ms = (uint32_t)v;
            break;
        case O_BUSY_POLL:
            if (parse_uint("--busy-poll", optarg, 0, 100000, &v)) return 2;
            busy_poll_us = (unsigned)v;
            break;
        case O_MAX_CLIENTS:
            if (parse_uint("--max-clients", optarg, 1, 1000000, &v)) return 2;
            d.opt.max_clients = (unsigned)v;
            break;
        case O_MAX_CLIENTS_UID:
            if (parse_uint("--max-clients-per-uid", optarg, 1, 1000000, &v)) return 2;
            d.opt.max_clients_per_uid = (unsigned)v;
            break;
        case O_MAX_SOCKS_UID:
            if (parse_uint("--max-socks-per-uid", optarg, 1, 10000000, &v)) return 2;
            d.opt.max_socks_per_uid = (unsigned)v;
            break;
        case O_MAX_BUF_UID:
            if (parse_size("--max-buffered-per-uid", optarg, 64ull << 10, 1ull << 40, &size))
                return 2;
            d.opt.max_buffered_per_uid = size;
            break;
        case O_PRIV_GROUP:
            d.opt.priv_group = optarg;
            break;
        case O_CAPTURE_GROUP:
            d.opt.capture_group = optarg;
            break;
        case O_USER:
            d.opt.user = optarg;
            break;
        case O_PCAP:
            pcap_path = optarg;
            break;
        case O_PCAP_NS:
            pcap_ns = true;
            break;
        case O_PCAP_SNAPLEN:
            if (parse_uint("--pcap-snaplen", optarg, 1, PCAP_SNAPLEN_DEFAULT, &v)) return 2;
            pcap_snaplen = (uint32_t)v;
            break;
        case O_PCAP_MAX:
            if (parse_size("--pcap-max", optarg, 1024, 1ull << 40, &size)) return 2;
            pcap_max = size;
            break;
        case O_SECCOMP:
            if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
                fprintf(stderr, "minitcpd: --seccomp: 'on' or 'off'\n");
                return 2;
            }
            seccomp_on = !strcmp(optarg, "on");
            break;
        case O_OFFLOAD:
            if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
                fprintf(stderr, "minitcpd: --offload: 'on' or 'off'\n");
                return 2;
            }
            offload = !strcmp(optarg, "on");
            break;
        case O_SHM:
            if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
                fprintf(stderr, "minitcpd: --shm: 'on' or 'off'\n");
                return 2;
            }
            d.opt.shm = !strcmp(optarg, "on");
            break;
        case O_SECCOMP_SELFTEST:
            seccomp_selftest = true;
            break;
        case O_VERSION:
            printf("minitcpd %s\n", MINITCP_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            if (optopt)
                fprintf(stderr, "minitcpd: option needs a value or is unknown: %s\n",
                        argv[optind - 1]);
            else
                fprintf(stderr, "minitcpd: unknown option: %s\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "minitcpd: unexpected argument: %s\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    struct privdrop_user user;
    if (d.opt.user) {
        if (privdrop_lookup(d.opt.user, &user) < 0) return 2;
        d.opt.user_uid = user.uid;
    }
    if (!d.opt.max_buffered_per_uid) d.opt.max_buffered_per_uid = cfg.mem_max / 2;
    cfg.max_orphans = max_orphans >= 0 ? (uint32_t)max_orphans : cfg.max_conns / 4;
    if (d.opt.trace) setvbuf(stdout, NULL, _IOLBF, 0);
    /* Connection rings come and go with connections: keep freed memory in the heap for
     * the next one instead of returning it to the kernel (and faulting it in again) on
     * every connection; RSS still only counts what connections have touched. */
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    signal(SIGPIPE, SIG_IGN);

    int offload_err = 0;
    int fd = offload ? tun_open_offload(d.opt.tun_name, d.tun_name, sizeof d.tun_name, &offload_err)
                     : tun_open(d.opt.tun_name, d.tun_name, sizeof d.tun_name);
    if (fd >= 0 && offload && offload_err) {
        fprintf(stderr,
                "minitcpd: TUN offloads refused by the kernel (%s): one packet per read "
                "and write\n",
                strerror(offload_err));
        offload = false;
    }
    d.vnet = offload;
    if (fd < 0) {
        fprintf(stderr, "minitcpd: cannot open TUN device %s: %s%s\n", d.opt.tun_name,
                strerror(-fd),
                fd == -EPERM || fd == -EACCES
                    ? " (needs CAP_NET_ADMIN, or a device created beforehand for this user)"
                    : "");
        return 1;
    }
    d.tun_fd = fd;
    int mtu = tun_mtu(d.tun_name);
    cfg.mtu = (uint16_t)(mtu >= 576 && mtu < 65536 ? mtu : 1500);
    cfg.addr = d.opt.addr;
    if (getrandom(cfg.isn_secret, sizeof cfg.isn_secret, 0) != (ssize_t)sizeof cfg.isn_secret) {
        fprintf(stderr, "minitcpd: getrandom: %s\n", strerror(errno));
        return 1;
    }
    cfg.output = on_output;
    if (d.vnet) {
        cfg.output_meta = on_output_meta;
        cfg.tx_offload = true;
    }
    cfg.event = on_event;
    cfg.trace = d.opt.trace ? on_trace : NULL;
    cfg.ctx = &d;
    d.st = stack_new(&cfg);
    if (!d.st) {
        fprintf(stderr, "minitcpd: cannot create the stack (out of memory?)\n");
        return 1;
    }

    d.loop = ev_default_loop(EVFLAG_AUTO);
    ev_io_init(&d.tun_w, tun_cb, d.tun_fd, EV_READ);
    d.tun_w.data = &d;
    ev_io_start(d.loop, &d.tun_w);
    ev_init(&d.timer, timer_cb);
    d.timer.data = &d;
    ev_prepare_init(&d.prepare, prepare_cb);
    d.prepare.data = &d;
    ev_prepare_start(d.loop, &d.prepare);
    ev_signal_init(&d.sigint_w, signal_cb, SIGINT);
    ev_signal_init(&d.sigterm_w, signal_cb, SIGTERM);
    ev_signal_start(d.loop, &d.sigint_w);
    ev_signal_start(d.loop, &d.sigterm_w);

    if (server_start(&d) < 0) {
        stack_free(d.st);
        close(d.tun_fd);
        return 1;
    }
    if (pcap_path) {
        d.pcap = calloc(1, sizeof *d.pcap);
        if (!d.pcap || pcap_open(d.pcap, pcap_path, pcap_ns, pcap_snaplen, pcap_max) < 0) {
            free(d.pcap);
            d.pcap = NULL;
            server_stop(&d);
            stack_free(d.st);
            close(d.tun_fd);
            return 1;
        }
    }
    /* everything that needs privilege is open: from here on, none is needed */
    if (d.opt.user && privdrop_apply(&user) < 0) {
        if (d.pcap) pcap_close(d.pcap);
        free(d.pcap);
        server_stop(&d);
        stack_free(d.st);
        close(d.tun_fd);
        return 1;
    }
    if (seccomp_on && syscall_filter_apply() < 0) {
        if (d.pcap) pcap_close(d.pcap);
        free(d.pcap);
        server_stop(&d);
        stack_free(d.st);
        close(d.tun_fd);
        return 1;
    }
    if (seccomp_selftest) {
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        fprintf(stderr, "minitcpd: seccomp selftest: socket(AF_INET) returned %d\n", s);
        if (s >= 0) close(s);
    }
    char a[16];
    printf("minitcpd: up on %s address %s mtu %u offload %s%s%s%s%s\n", d.tun_name,
           ip_fmt(d.opt.addr, a), cfg.mtu, d.vnet ? "on" : "off",
           d.opt.socket_path ? " socket " : "", d.opt.socket_path ? d.opt.socket_path : "",
           d.opt.user ? " user " : "", d.opt.user ? user.name : "");
    if (seccomp_on) printf("minitcpd: seccomp allow-list in force\n");
    fflush(stdout);
    notify_systemd("READY=1");

    run_loop(&d, busy_poll_us);

    notify_systemd("STOPPING=1");
    printf("minitcpd: shutting down\n");
    fflush(stdout);
    server_stop(&d);
    stack_free(d.st); /* its last packets (resets) are captured too */
    if (d.pcap) pcap_close(d.pcap);
    free(d.pcap);
    close(d.tun_fd);
    ev_loop_destroy(d.loop);
    return 0;
}
