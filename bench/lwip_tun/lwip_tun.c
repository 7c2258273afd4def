/* lwip_tun: the reference user-space stack for the benchmark. Debian's liblwip (2.1.3, a
 * prebuilt shared library) on a TUN device, raw (callback) API, one thread.
 *
 *   lwip_tun [--tun NAME] [--addr A.B.C.D]       (defaults tun0, 10.0.0.2)
 *
 * Services: discard 9 (checks the counted pattern of pattern.h, logs "discard: bytes=N
 * pattern=ok|BAD" per connection on stderr), echo 7, source 19 (the counted pattern until
 * the peer goes away), HTTP-ish 8080 (answers any request head with the same 200 OK as
 * MiniTCP's chat_server and closes first).
 *
 * The packaged library is built with NO_SYS=0 (its lwipopts.h is /usr/include/lwip/
 * lwipopts.h and the struct layouts depend on it, so it is the one compiled against). This
 * program never starts the tcpip thread: it calls lwip_init() and then drives the stack from
 * its own loop exactly as a NO_SYS=1 program does -- packets in through ip_input(), timers
 * through sys_check_timeouts() -- so there is one thread, no locking and no mailbox hop,
 * like minitcpd's loop. Stops on SIGTERM/SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

#include "../pattern.h"

#define READS_PER_WAKEUP 64
#define TUN_MTU 1500
#define RX_BUF 2048

static const char HTTP_REPLY[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n";

enum kind { K_DISCARD, K_ECHO, K_SOURCE, K_HTTP };

struct conn {
    enum kind kind;
    struct tcp_pcb *pcb;
    u64_t off;           /* discard: bytes checked; source: bytes queued */
    bool bad;            /* discard: the pattern did not match */
    bool eof;            /* echo: the peer sent FIN; close once everything is echoed */
    struct pbuf *pending; /* echo: received, not yet queued for sending */
    u32_t tail;          /* http: the last four bytes seen, to find "\r\n\r\n" */
};

static int tun_fd = -1;
static volatile sig_atomic_t stop;
static unsigned long long tx_errors;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* ---- the netif: IP packets straight to and from the TUN device ----------------------- */

static err_t tun_output(struct netif *netif, struct pbuf *p, const ip4_addr_t *dst)
{
    (void)netif;
    (void)dst;
    static u8_t buf[RX_BUF];
    const void *data = p->payload;
    if (p->next != NULL) { /* a chain: flatten it */
        if (p->tot_len > sizeof buf) return ERR_BUF;
        pbuf_copy_partial(p, buf, p->tot_len, 0);
        data = buf;
    }
    if (write(tun_fd, data, p->tot_len) < 0) tx_errors++;
    return ERR_OK;
}

static err_t tun_output_ip6(struct netif *netif, struct pbuf *p, const ip6_addr_t *dst)
{
    (void)netif;
    (void)p;
    (void)dst;
    return ERR_OK; /* IPv6 is not benchmarked: drop */
}

static err_t tun_netif_init(struct netif *netif)
{
    netif->name[0] = 't';
    netif->name[1] = 'n';
    netif->mtu = TUN_MTU;
    netif->output = tun_output;
    netif->output_ip6 = tun_output_ip6;
    netif->flags = 0; /* point-to-point: no ARP, no broadcast */
    return ERR_OK;
}

static int tun_open(const char *name)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    struct ifreq ifr = {.ifr_flags = IFF_TUN | IFF_NO_PI};
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
        fprintf(stderr, "lwip_tun: open %s: %s\n", name, strerror(errno));
        exit(1);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* ---- connections --------------------------------------------------------------------- */

static void conn_detach(struct conn *c)
{
    if (c->pcb) {
        tcp_arg(c->pcb, NULL);
        tcp_recv(c->pcb, NULL);
        tcp_sent(c->pcb, NULL);
        tcp_err(c->pcb, NULL);
        tcp_poll(c->pcb, NULL, 0);
    }
    if (c->kind == K_DISCARD && c->off > 0)
        fprintf(stderr, "discard: bytes=%llu pattern=%s\n", (unsigned long long)c->off,
                c->bad ? "BAD" : "ok");
    if (c->pending) pbuf_free(c->pending);
    free(c);
}

/* Closes gracefully (FIN); falls back to an abort when lwIP has no memory for it. Returns
 * ERR_ABRT when the pcb was aborted, which the calling callback must return. */
static err_t conn_close(struct conn *c)
{
    struct tcp_pcb *pcb = c->pcb;
    conn_detach(c);
    if (tcp_close(pcb) != ERR_OK) {
        tcp_abort(pcb);
        return ERR_ABRT;
    }
    return ERR_OK;
}

static void on_err(void *arg, err_t err)
{
    (void)err;
    struct conn *c = arg;
    if (!c) return;
    c->pcb = NULL; /* lwIP has freed it already */
    conn_detach(c);
}

/* echo: queue as much pending data as the send buffer takes, and open the receive window
 * by exactly that much, so a slow reader throttles the sender (no unbounded buffering). */
static err_t echo_flush(struct conn *c)
{
    u32_t queued = 0;
    while (c->pending) {
        u16_t room = tcp_sndbuf(c->pcb);
        u16_t n = c->pending->len < room ? c->pending->len : room;
        if (n == 0) break;
        u8_t flags = TCP_WRITE_FLAG_COPY | (n < c->pending->tot_len ? TCP_WRITE_FLAG_MORE : 0);
        if (tcp_write(c->pcb, c->pending->payload, n, flags) != ERR_OK) break;
        queued += n;
        c->pending = pbuf_free_header(c->pending, n);
    }
    if (queued) {
        tcp_recved(c->pcb, (u16_t)queued);
        tcp_output(c->pcb);
    }
    if (c->eof && !c->pending) return conn_close(c);
    return ERR_OK;
}

/* source: keep the send buffer full of the counted pattern. */
static void source_fill(struct conn *c)
{
    bool any = false;
    for (;;) {
        u16_t n = tcp_sndbuf(c->pcb);
        if (n > 16384) n = 16384;
        if (n == 0) break;
        if (tcp_write(c->pcb, pattern_at(c->off), n, TCP_WRITE_FLAG_COPY | TCP_WRITE_FLAG_MORE) !=
            ERR_OK)
            break;
        c->off += n;
        any = true;
    }
    if (any) tcp_output(c->pcb);
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    (void)pcb;
    (void)len;
    struct conn *c = arg;
    if (!c) return ERR_OK;
    if (c->kind == K_ECHO) return echo_flush(c);
    if (c->kind == K_SOURCE) source_fill(c);
    return ERR_OK;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct conn *c = arg;
    if (!c) { /* already closed on our side: swallow */
        if (p) {
            tcp_recved(pcb, p->tot_len);
            pbuf_free(p);
        }
        return ERR_OK;
    }
    if (p == NULL || err != ERR_OK) { /* FIN from the peer */
        if (p) pbuf_free(p);
        if (c->kind == K_ECHO) {
            c->eof = true;
            return echo_flush(c);
        }
        return conn_close(c);
    }
    switch (c->kind) {
    case K_DISCARD:
        for (struct pbuf *q = p; q; q = q->next) {
            if (!c->bad && !pattern_check(q->payload, q->len, c->off)) c->bad = true;
            c->off += q->len;
        }
        tcp_recved(pcb, p->tot_len);
        pbuf_free(p);
        return ERR_OK;
    case K_ECHO:
        if (c->pending) pbuf_cat(c->pending, p);
        else c->pending = p;
        return echo_flush(c);
    case K_SOURCE:
        tcp_recved(pcb, p->tot_len);
        pbuf_free(p);
        return ERR_OK;
    case K_HTTP: {
        bool done = false;
        for (struct pbuf *q = p; q && !done; q = q->next)
            for (u16_t i = 0; i < q->len && !done; i++) {
                c->tail = (c->tail << 8) | ((u8_t *)q->payload)[i];
                done = c->tail == 0x0d0a0d0a;
            }
        tcp_recved(pcb, p->tot_len); /* all read: tcp_close would send RST otherwise */
        pbuf_free(p);
        if (!done) return ERR_OK;
        if (tcp_write(pcb, HTTP_REPLY, sizeof HTTP_REPLY - 1, TCP_WRITE_FLAG_COPY) != ERR_OK) {
            conn_detach(c);
            tcp_abort(pcb);
            return ERR_ABRT;
        }
        return conn_close(c); /* queues the FIN after the reply and sends both */
    }
    }
    return ERR_OK;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    if (err != ERR_OK || pcb == NULL) return ERR_VAL;
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        tcp_abort(pcb);
        return ERR_ABRT;
    }
    c->kind = (enum kind)(uintptr_t)arg;
    c->pcb = pcb;
    tcp_arg(pcb, c);
    tcp_recv(pcb, on_recv);
    tcp_sent(pcb, on_sent);
    tcp_err(pcb, on_err);
    if (c->kind == K_ECHO || c->kind == K_HTTP) tcp_nagle_disable(pcb);
    if (c->kind == K_SOURCE) source_fill(c);
    return ERR_OK;
}

static void listen_on(u16_t port, enum kind kind)
{
    struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
    if (!pcb || tcp_bind(pcb, IP4_ADDR_ANY, port) != ERR_OK) {
        fprintf(stderr, "lwip_tun: cannot bind port %u\n", port);
        exit(1);
    }
    struct tcp_pcb *l = tcp_listen_with_backlog(pcb, 255);
    if (!l) {
        fprintf(stderr, "lwip_tun: cannot listen on port %u\n", port);
        exit(1);
    }
    tcp_arg(l, (void *)(uintptr_t)kind);
    tcp_accept(l, on_accept);
}

int main(int argc, char **argv)
{
    const char *tun = "tun0", *addr = "10.0.0.2";
    static const struct option longopts[] = {{"tun", 1, 0, 't'}, {"addr", 1, 0, 'a'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 't') tun = optarg;
        else if (c == 'a') addr = optarg;
        else {
            fprintf(stderr, "usage: lwip_tun [--tun NAME] [--addr A.B.C.D]\n");
            return 2;
        }
    }
    ip4_addr_t ip, mask, gw;
    if (!ip4addr_aton(addr, &ip)) {
        fprintf(stderr, "lwip_tun: bad address %s\n", addr);
        return 2;
    }
    IP4_ADDR(&mask, 255, 255, 255, 0);
    gw = ip; /* point-to-point: everything goes out of the one netif */
    tun_fd = tun_open(tun);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    lwip_init();
    static struct netif netif;
    if (!netif_add(&netif, &ip, &mask, &gw, NULL, tun_netif_init, ip_input)) {
        fprintf(stderr, "lwip_tun: netif_add failed\n");
        return 1;
    }
    netif_set_default(&netif);
    netif_set_link_up(&netif);
    netif_set_up(&netif);
    listen_on(9, K_DISCARD);
    listen_on(7, K_ECHO);
    listen_on(19, K_SOURCE);
    listen_on(8080, K_HTTP);
    fprintf(stderr, "lwip_tun: lwIP %s on %s as %s: discard 9, echo 7, source 19, http 8080\n",
            LWIP_VERSION_STRING, tun, addr);

    while (!stop) {
        u32_t sleep_ms = sys_timeouts_sleeptime();
        struct pollfd p = {.fd = tun_fd, .events = POLLIN};
        int r = poll(&p, 1, sleep_ms > 500 ? 500 : (int)sleep_ms);
        if (r < 0 && errno != EINTR) {
            perror("lwip_tun: poll");
            return 1;
        }
        if (r > 0 && (p.revents & POLLIN)) {
            for (int i = 0; i < READS_PER_WAKEUP; i++) {
                struct pbuf *pb = pbuf_alloc(PBUF_RAW, RX_BUF, PBUF_RAM);
                if (!pb) break;
                ssize_t n = read(tun_fd, pb->payload, RX_BUF);
                if (n <= 0) {
                    pbuf_free(pb);
                    break;
                }
                pbuf_realloc(pb, (u16_t)n);
                netif.input(pb, &netif); /* ip_input takes the pbuf */
            }
        }
        sys_check_timeouts();
    }
    fprintf(stderr, "lwip_tun: stopping (%llu TUN write errors)\n", tx_errors);
    return 0;
}
