#include "udp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "checksum.h"
#include "credit.h"
#include "icmp.h"
#include "ip6.h"
#include "stack_internal.h"

enum udp_parse_result udp_parse(const uint8_t *seg, size_t len, uint32_t src, uint32_t dst,
                                struct udp_view *v)
{
    if (len < UDP_HDR_LEN) return UDP_ERR_SHORT;
    size_t ulen = get16(seg + 4);
    /* The UDP length must cover the header and fit the IP payload; bytes past it are
     * padding and are not part of the datagram. */
    if (ulen < UDP_HDR_LEN || ulen > len) return UDP_ERR_LENGTH;
    uint16_t ck = get16(seg + 6);
    if (ck != 0) {
        uint32_t s = csum_pseudo(src, dst, 17, (uint16_t)ulen);
        if (csum_finish(csum_add(s, seg, ulen)) != 0) return UDP_ERR_CHECKSUM;
    }
    v->sport = get16(seg);
    v->dport = get16(seg + 2);
    v->data = seg + UDP_HDR_LEN;
    v->data_len = ulen - UDP_HDR_LEN;
    v->had_checksum = ck != 0;
    return UDP_OK;
}

size_t udp_build(uint8_t *out, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                 const uint8_t *data, size_t data_len)
{
    size_t ulen = UDP_HDR_LEN + data_len;
    if (data_len && out + UDP_HDR_LEN != data) memmove(out + UDP_HDR_LEN, data, data_len);
    put16(out, sport);
    put16(out + 2, dport);
    put16(out + 4, (uint16_t)ulen);
    put16(out + 6, 0);
    uint16_t ck = csum_finish(csum_add(csum_pseudo(src, dst, 17, (uint16_t)ulen), out, ulen));
    put16(out + 6, ck ? ck : 0xffff); /* RFC 768: a computed 0 is sent as all ones */
    return ulen;
}

/* ---- sockets ---- */

struct udp_dgram {
    struct udp_dgram *next;
    struct ip_addr raddr;
    uint16_t rport;
    size_t len;
    uint8_t data[];
};

struct udp_sock {
    struct udp_sock *next; /* port bucket chain */
    int handle;
    uint16_t port;
    uint8_t fams; /* STACK_FAM_*: the families it takes datagrams of */
    struct udp_dgram *head, *tail;
    size_t queued; /* sum of credit_dgram_cost: payload plus a fixed charge per datagram */
};

#define UDP_BUCKETS 256

struct udp_state {
    struct udp_sock *bucket[UDP_BUCKETS];
    uint16_t next_ephemeral;
};

struct udp_state *udp_create(struct stack *st)
{
    (void)st;
    struct udp_state *u = calloc(1, sizeof *u);
    if (u) u->next_ephemeral = 49152;
    return u;
}

/* What a queued datagram costs the memory bound (mem.h): as it costs its credit. */
static size_t dgram_mem(const struct udp_dgram *d)
{
    return credit_dgram_cost(d->len);
}

static void sock_free(struct stack *st, struct udp_sock *s)
{
    struct udp_dgram *d = s->head;
    while (d) {
        struct udp_dgram *n = d->next;
        mem_uncharge(&st->mem, dgram_mem(d));
        free(d);
        d = n;
    }
    free(s);
}

void udp_destroy(struct stack *st)
{
    for (int i = 0; i < UDP_BUCKETS; i++) {
        struct udp_sock *s = st->udp->bucket[i];
        while (s) {
            struct udp_sock *n = s->next;
            sock_free(st, s);
            s = n;
        }
    }
    free(st->udp);
    st->udp = NULL;
}

static struct udp_sock *lookup(struct udp_state *u, uint16_t port)
{
    for (struct udp_sock *s = u->bucket[port % UDP_BUCKETS]; s; s = s->next)
        if (s->port == port) return s;
    return NULL;
}

static void send_datagram(struct stack *st, uint32_t dst, uint16_t sport, uint16_t dport,
                          const uint8_t *data, size_t len)
{
    char a[16], b[16];
    size_t n = udp_build(stack_tx_payload(st), st->cfg.addr, dst, sport, dport, data, len);
    st->stats.udp_tx++;
    TRACE(st, "[UDP ] send %s:%u -> %s:%u len=%zu", ip_fmt(st->cfg.addr, a), sport, ip_fmt(dst, b),
          dport, len);
    stack_tx_dgram(st, dst, IP_PROTO_UDP, n, true);
}

void udp_input(struct stack *st, const struct ip_view *ip)
{
    struct udp_view v;
    char a[16], b[16];
    st->stats.udp_rx++;
    switch (udp_parse(ip->payload, ip->payload_len, ip->src, ip->dst, &v)) {
    case UDP_ERR_SHORT:
        st->stats.udp_drop_short++;
        TRACE(st, "[UDP ] drop len=%zu reason=too short", ip->payload_len);
        return;
    case UDP_ERR_LENGTH:
        st->stats.udp_drop_length++;
        TRACE(st, "[UDP ] drop len=%zu reason=bad length", ip->payload_len);
        return;
    case UDP_ERR_CHECKSUM:
        st->stats.udp_drop_checksum++;
        TRACE(st, "[UDP ] drop len=%zu reason=bad checksum", ip->payload_len);
        return;
    case UDP_OK:
        break;
    }
    TRACE(st, "[UDP ] recv %s:%u -> %s:%u len=%zu", ip_fmt(ip->src, a), v.sport, ip_fmt(ip->dst, b),
          v.dport, v.data_len);
    if (udp_sock_deliver(st, ipa_from_v4(ip->src), v.sport, v.dport, v.data, v.data_len)) return;
    if (st->cfg.udp_echo_port && v.dport == st->cfg.udp_echo_port) {
        st->stats.udp_echoed++;
        send_datagram(st, ip->src, v.dport, v.sport, v.data, v.data_len);
        return;
    }
    st->stats.udp_no_port++;
    icmp_send_unreach(st, ip, ICMP_UNREACH_PORT);
}

bool udp_sock_deliver(struct stack *st, struct ip_addr src, uint16_t sport, uint16_t dport,
                      const uint8_t *data, size_t data_len)
{
    struct udp_sock *s = lookup(st->udp, dport);
    if (s && !(s->fams & (ipa_is_v4(src) ? STACK_FAM_V4 : STACK_FAM_V6))) s = NULL;
    if (s) {
        struct udp_view v = {.sport = sport, .dport = dport, .data = data, .data_len = data_len};
        /* an empty datagram is not free: without the fixed charge a flood of them would
         * queue without bound (Linux counts these as UdpRcvbufErrors too) */
        uint32_t cost = credit_dgram_cost(v.data_len);
        if (s->queued + cost > UDP_RCVBUF_MAX) {
            st->stats.udp_drop_rcvbuf++;
            return true;
        }
        if (!mem_charge(&st->mem, cost)) {
            st->stats.udp_drop_rcvbuf++; /* the memory bound */
            return true;
        }
        struct udp_dgram *d = malloc(sizeof *d + v.data_len);
        if (!d) {
            mem_uncharge(&st->mem, cost);
            st->stats.udp_drop_rcvbuf++;
            return true;
        }
        d->next = NULL;
        d->raddr = src;
        d->rport = v.sport;
        d->len = v.data_len;
        memcpy(d->data, v.data, v.data_len);
        if (s->tail)
            s->tail->next = d;
        else
            s->head = d;
        s->tail = d;
        s->queued += cost;
        stack_event(st, s->handle, SEV_READABLE);
        return true;
    }
    return false;
}

int stack_udp_bind(struct stack *st, uint16_t port)
{
    return stack_udp_bind_fam(st, port, STACK_FAM_V4);
}

int stack_udp_bind_fam(struct stack *st, uint16_t port, unsigned fams)
{
    struct udp_state *u = st->udp;
    if (fams == 0 || (fams & ~(unsigned)(STACK_FAM_V4 | STACK_FAM_V6))) return -EINVAL;
    if ((fams & STACK_FAM_V6) && !st->cfg.has_addr6) return -EADDRNOTAVAIL;
    if (port == 0) {
        for (int tries = 0; tries < 16384 && !port; tries++) {
            uint16_t p = u->next_ephemeral;
            u->next_ephemeral = p == 65535 ? 49152 : (uint16_t)(p + 1);
            if (!lookup(u, p)) port = p;
        }
        if (!port) return -EADDRINUSE;
    } else if (lookup(u, port)) {
        return -EADDRINUSE;
    }
    struct udp_sock *s = calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    int h = handle_alloc(st, HANDLE_UDP, s);
    if (h < 0) {
        free(s);
        return h;
    }
    s->handle = h;
    s->port = port;
    s->fams = (uint8_t)fams;
    s->next = u->bucket[port % UDP_BUCKETS];
    u->bucket[port % UDP_BUCKETS] = s;
    return h;
}

long stack_udp_sendto(struct stack *st, int h, uint32_t raddr, uint16_t rport, const void *buf,
                      size_t len)
{
    return stack_udp_sendto_addr(st, h, ipa_from_v4(raddr), rport, buf, len);
}

/* UDP over IPv6 (RFC 768 with RFC 8200 §8.1): the checksum is mandatory, a computed 0 is
 * sent as all ones; larger than the MTU: fragments (stack_tx_send6). */
static long send6(struct stack *st, struct udp_sock *s, struct ip_addr raddr, uint16_t rport,
                  const void *buf, size_t len)
{
    char a[IPA_STRLEN];
    if (len > UDP6_MAX_PAYLOAD) return -EMSGSIZE;
    uint8_t *out = stack_tx_payload6(st);
    size_t ulen = UDP_HDR_LEN + len;
    memmove(out + UDP_HDR_LEN, buf, len);
    put16(out, s->port);
    put16(out + 2, rport);
    put16(out + 4, (uint16_t)ulen);
    put16(out + 6, 0);
    uint32_t sum = ip6_pseudo_sum(st->cfg.addr6, raddr.b, IP_PROTO_UDP, (uint32_t)ulen);
    uint16_t c = csum_finish(csum_add(sum, out, ulen));
    put16(out + 6, c ? c : 0xffff);
    st->stats.udp_tx++;
    TRACE(st, "[UDP ] send port %u -> [%s]:%u len=%zu", s->port, ipa_fmt(raddr, a), rport, len);
    stack_tx_send6(st, raddr.b, IP_PROTO_UDP, ulen);
    return (long)len;
}

long stack_udp_sendto_addr(struct stack *st, int h, struct ip_addr raddr, uint16_t rport,
                           const void *buf, size_t len)
{
    struct udp_sock *s = handle_get(st, h, HANDLE_UDP);
    if (!s) return -EBADF;
    if (rport == 0 || ipa_is_any(raddr)) return -EINVAL;
    if (!ipa_is_v4(raddr)) {
        if (!(s->fams & STACK_FAM_V6)) return -EAFNOSUPPORT;
        if (raddr.b[0] == 0xff) return -EINVAL; /* no multicast */
        return send6(st, s, raddr, rport, buf, len);
    }
    if (!(s->fams & STACK_FAM_V4)) return -ENETUNREACH; /* V6ONLY */
    uint32_t raddr4 = ipa_v4(raddr);
    if (len > UDP_MAX_PAYLOAD) return -EMSGSIZE; /* larger than the MTU: fragments */
    send_datagram(st, raddr4, s->port, rport, buf, len);
    return (long)len;
}

long stack_udp_recvfrom(struct stack *st, int h, void *buf, size_t len, uint32_t *raddr,
                        uint16_t *rport)
{
    struct ip_addr a;
    long n = stack_udp_recvfrom_addr(st, h, buf, len, &a, rport);
    if (n >= 0 && raddr) *raddr = ipa_v4_or_0(a);
    return n;
}

long stack_udp_recvfrom_addr(struct stack *st, int h, void *buf, size_t len, struct ip_addr *raddr,
                             uint16_t *rport)
{
    struct udp_sock *s = handle_get(st, h, HANDLE_UDP);
    if (!s) return -EBADF;
    struct udp_dgram *d = s->head;
    if (!d) return -EAGAIN;
    size_t n = d->len < len ? d->len : len;
    memcpy(buf, d->data, n);
    if (raddr) *raddr = d->raddr;
    if (rport) *rport = d->rport;
    s->head = d->next;
    if (!s->head) s->tail = NULL;
    s->queued -= credit_dgram_cost(d->len);
    long ret = (long)n;
    mem_uncharge(&st->mem, dgram_mem(d));
    free(d);
    return ret;
}

int stack_udp_close(struct stack *st, int h)
{
    struct udp_sock *s = handle_get(st, h, HANDLE_UDP);
    if (!s) return -EBADF;
    struct udp_sock **pp = &st->udp->bucket[s->port % UDP_BUCKETS];
    while (*pp != s)
        pp = &(*pp)->next;
    *pp = s->next;
    handle_release(st, h);
    sock_free(st, s);
    return 0;
}

int stack_udp_port(struct stack *st, int h)
{
    struct udp_sock *s = handle_get(st, h, HANDLE_UDP);
    return s ? s->port : -EBADF;
}
