/* libminitcp-client: the socket table. Descriptors and the daemon id -> descriptor map, each
 * socket's receive ring and accept queue, receive credit returned as the application
 * consumes (proto/credit.h), and the frames the daemon pushes turned into socket state. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_internal.h"

static size_t hslot(uint32_t id)
{
    return (id * 2654435761u) & (mtc.hcap - 1);
}

static int hmap_get(uint32_t id)
{
    if (!mtc.hcap) return -1;
    for (size_t i = hslot(id);; i = (i + 1) & (mtc.hcap - 1)) {
        if (!mtc.hvals[i]) return -1;
        if (mtc.hkeys[i] == id) return mtc.hvals[i] - 1;
    }
}

static int hmap_put(uint32_t id, int desc)
{
    if ((mtc.hcount + 1) * 2 > mtc.hcap) {
        size_t ncap = mtc.hcap ? mtc.hcap * 2 : 64;
        uint32_t *nk = calloc(ncap, sizeof *nk);
        int *nv = calloc(ncap, sizeof *nv);
        if (!nk || !nv) {
            free(nk);
            free(nv);
            return -1;
        }
        uint32_t *ok = mtc.hkeys;
        int *ov = mtc.hvals;
        size_t ocap = mtc.hcap;
        mtc.hkeys = nk;
        mtc.hvals = nv;
        mtc.hcap = ncap;
        for (size_t i = 0; i < ocap; i++) {
            if (!ov[i]) continue;
            size_t j = hslot(ok[i]);
            while (mtc.hvals[j])
                j = (j + 1) & (mtc.hcap - 1);
            mtc.hkeys[j] = ok[i];
            mtc.hvals[j] = ov[i];
        }
        free(ok);
        free(ov);
    }
    size_t i = hslot(id);
    while (mtc.hvals[i])
        i = (i + 1) & (mtc.hcap - 1);
    mtc.hkeys[i] = id;
    mtc.hvals[i] = desc + 1;
    mtc.hcount++;
    return 0;
}

static void hmap_del(uint32_t id)
{
    if (!mtc.hcap) return;
    size_t i = hslot(id);
    for (;; i = (i + 1) & (mtc.hcap - 1)) {
        if (!mtc.hvals[i]) return;
        if (mtc.hkeys[i] == id) break;
    }
    mtc.hvals[i] = 0;
    mtc.hcount--;
    /* backward-shift deletion keeps probe chains intact */
    size_t j = i;
    for (;;) {
        j = (j + 1) & (mtc.hcap - 1);
        if (!mtc.hvals[j]) return;
        size_t k = hslot(mtc.hkeys[j]);
        bool between = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (between) continue;
        mtc.hkeys[i] = mtc.hkeys[j];
        mtc.hvals[i] = mtc.hvals[j];
        mtc.hvals[j] = 0;
        i = j;
    }
}

struct csock *mtc_get_sock(int s)
{
    if (s < 0 || s >= mtc.nsocks || !mtc.socks[s].used) {
        errno = EBADF;
        return NULL;
    }
    return &mtc.socks[s];
}

static int desc_alloc(void)
{
    for (int i = 0; i < mtc.nsocks; i++)
        if (!mtc.socks[i].used) return i;
    /* The array never moves: a thread waiting in a call keeps its socket's address while
     * another thread makes sockets. Untouched pages of it cost nothing. */
    if (!mtc.socks && !(mtc.socks = calloc(MTC_MAX_SOCKS, sizeof *mtc.socks))) {
        errno = ENOMEM;
        return -1;
    }
    if (mtc.nsocks == MTC_MAX_SOCKS) {
        errno = EMFILE;
        return -1;
    }
    int n = mtc.nsocks ? mtc.nsocks * 2 : 16;
    int first = mtc.nsocks;
    mtc.nsocks = n < MTC_MAX_SOCKS ? n : MTC_MAX_SOCKS;
    return first;
}

int mtc_sock_new(uint32_t id, uint8_t kind)
{
    int d = desc_alloc();
    if (d < 0) return -1;
    if (hmap_put(id, d) < 0) {
        errno = ENOMEM;
        return -1;
    }
    struct csock *cs = &mtc.socks[d];
    memset(cs, 0, sizeof *cs);
    cs->used = true;
    cs->id = id;
    cs->kind = kind;
    proto_credit_receiver_init(&cs->rcv, PROTO_DEFAULT_RCV_WINDOW);
    cs->local.sin_family = AF_INET;
    cs->peer.sin_family = AF_INET;
    return d;
}

void mtc_sock_free(int d)
{
    struct csock *cs = &mtc.socks[d];
    hmap_del(cs->id);
    free(cs->rbuf);
    free(cs->aq);
    memset(cs, 0, sizeof *cs);
}

void mtc_credit_send(uint32_t id, uint32_t n)
{
    struct proto_msg m = {.h = {.type = PT_CREDIT, .sock_id = id}};
    m.u.credit.n = n;
    (void)mtc_out_msg(&m);
}

void mtc_close_id(uint32_t id, bool abort)
{
    struct proto_msg m = {.h = {.type = PT_CLOSE, .sock_id = id}};
    if (abort) m.h.flags = PROTO_F_ABORT;
    (void)mtc_out_msg(&m);
}

/* Appends n bytes to the socket's ring, growing it (bounded by what the daemon may send:
 * the window; a daemon that overruns it is tolerated up to 2x, then dropped). */
static int ring_put(struct csock *cs, const uint8_t *p, size_t n)
{
    if (n == 0) return 0; /* an empty DATA frame: nothing to store (and no ring yet) */
    if (cs->rlen + n > cs->rcap) {
        size_t ncap = cs->rcap ? cs->rcap : 4096;
        while (ncap < cs->rlen + n)
            ncap *= 2;
        if (ncap > 2 * (size_t)PROTO_MAX_RCV_WINDOW + 2 * PROTO_MAX_FRAME) return -1;
        uint8_t *nb = malloc(ncap);
        if (!nb) return -1;
        /* linearize */
        size_t first = cs->rcap - cs->rhead < cs->rlen ? cs->rcap - cs->rhead : cs->rlen;
        if (cs->rlen) {
            memcpy(nb, cs->rbuf + cs->rhead, first);
            memcpy(nb + first, cs->rbuf, cs->rlen - first);
        }
        free(cs->rbuf);
        cs->rbuf = nb;
        cs->rcap = ncap;
        cs->rhead = 0;
    }
    size_t tail = (cs->rhead + cs->rlen) % cs->rcap;
    size_t first = cs->rcap - tail < n ? cs->rcap - tail : n;
    memcpy(cs->rbuf + tail, p, first);
    memcpy(cs->rbuf, p + first, n - first);
    cs->rlen += n;
    return 0;
}

void mtc_ring_get(struct csock *cs, uint8_t *p, size_t n)
{
    size_t first = cs->rcap - cs->rhead < n ? cs->rcap - cs->rhead : n;
    if (p) {
        memcpy(p, cs->rbuf + cs->rhead, first);
        memcpy(p + first, cs->rbuf, n - first);
    }
    cs->rhead = (cs->rhead + n) % cs->rcap;
    cs->rlen -= n;
    if (!cs->rlen) cs->rhead = 0;
}

/* The application consumed cost (stream bytes, or credit_dgram_cost of a datagram): the
 * daemon charged exactly that, so exactly that goes back (proto/credit.h). */
void mtc_consumed(struct csock *cs, uint32_t cost)
{
    uint32_t back = proto_credit_consume(&cs->rcv, cost);
    if (back) mtc_credit_send(cs->id, back);
}

void mtc_set_addr(struct sockaddr_in *sa, uint32_t addr, uint16_t port)
{
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(addr);
    sa->sin_port = htons(port);
}

static int aq_push(struct csock *l, int d)
{
    if (l->aq_len == l->aq_cap) {
        size_t ncap = l->aq_cap ? l->aq_cap * 2 : 16;
        int *na = malloc(ncap * sizeof *na);
        if (!na) return -1;
        for (size_t i = 0; i < l->aq_len; i++)
            na[i] = l->aq[(l->aq_head + i) % l->aq_cap];
        free(l->aq);
        l->aq = na;
        l->aq_cap = ncap;
        l->aq_head = 0;
    }
    l->aq[(l->aq_head + l->aq_len) % l->aq_cap] = d;
    l->aq_len++;
    return 0;
}

/* One frame from the daemon. Returns -1 on a protocol violation. */
int mtc_dispatch(const struct proto_msg *m)
{
    if (!(proto_type_dir(m->h.type) & PROTO_DIR_D2C)) return -1;
    if (m->h.type == PT_EV_ERROR && m->h.sock_id == 0) {
        /* the daemon refused this client (a client limit) and closes the session */
        mtc_refused = proto_err_to_errno(m->u.error.err);
        return -1;
    }
    if (m->h.type == PT_REPLY || m->h.type == PT_INFO_REPLY) {
        if (m->h.req_id && m->h.req_id == mtc.wait_req) {
            mtc.reply = *m;
            mtc.reply_done = true;
        }
        return 0;
    }
    if (m->h.type == PT_CONN_LIST || m->h.type == PT_STATS_LIST) return 0; /* not asked */

    int d = hmap_get(m->h.sock_id);
    if (m->h.type == PT_EV_ACCEPTED) {
        struct csock *l = d >= 0 ? &mtc.socks[d] : NULL;
        if (!l || l->state != CS_LISTEN) {
            mtc_close_id(m->u.accepted.new_id, true); /* the listener is gone */
            return 0;
        }
        int nd = mtc_sock_new(m->u.accepted.new_id, PROTO_SOCK_STREAM);
        l = &mtc.socks[d]; /* sock_new may move the array */
        if (nd < 0 || aq_push(l, nd) < 0) {
            if (nd >= 0) mtc_sock_free(nd);
            mtc_close_id(m->u.accepted.new_id, true);
            mtc_credit_send(mtc.socks[d].id, 1); /* the daemon charged this accept */
            return 0;
        }
        struct csock *cs = &mtc.socks[nd];
        cs->state = CS_CONNECTED;
        cs->scredit = m->u.accepted.send_credit;
        mtc_set_addr(&cs->local, m->u.accepted.laddr, m->u.accepted.lport);
        mtc_set_addr(&cs->peer, m->u.accepted.raddr, m->u.accepted.rport);
        return 0;
    }
    if (d < 0) return 0; /* a socket closed here already: late frames are dropped */
    struct csock *cs = &mtc.socks[d];
    switch (m->h.type) {
    case PT_DATA:
        if (cs->kind != PROTO_SOCK_STREAM) return -1;
        if (cs->shut_rd) {
            mtc_consumed(cs, (uint32_t)m->u.data.len);
            return 0;
        }
        return ring_put(cs, m->u.data.ptr, m->u.data.len);
    case PT_DGRAM: {
        if (cs->kind != PROTO_SOCK_DGRAM) return -1;
        uint8_t rec[12];
        proto_put32(rec, m->u.dgram.addr);
        proto_put32(rec + 4, m->u.dgram.port);
        proto_put32(rec + 8, (uint32_t)m->u.dgram.len);
        if (ring_put(cs, rec, sizeof rec) < 0 || ring_put(cs, m->u.dgram.ptr, m->u.dgram.len) < 0)
            return -1;
        cs->ndgrams++;
        return 0;
    }
    case PT_SEND_CREDIT:
        cs->scredit += m->u.credit.n;
        return 0;
    case PT_EV_CONNECTED:
        if (cs->state == CS_CONNECTING) cs->state = CS_CONNECTED;
        cs->scredit += m->u.connected.send_credit;
        mtc_set_addr(&cs->local, m->u.connected.laddr, m->u.connected.lport);
        return 0;
    case PT_EV_EOF:
        cs->eof = true;
        return 0;
    case PT_EV_ERROR:
        cs->err = proto_err_to_errno(m->u.error.err);
        if (cs->state == CS_CONNECTING) cs->state = CS_FAILED;
        return 0;
    default:
        return -1;
    }
}

void mtc_socks_orphan(void)
{
    for (int i = 0; i < mtc.nsocks; i++) {
        struct csock *cs = &mtc.socks[i];
        if (!cs->used) continue;
        if (!cs->err) cs->err = ECONNABORTED;
        if (cs->state == CS_CONNECTING) cs->state = CS_FAILED;
        cs->id = 0; /* orphaned: ids of a new session must not find it */
    }
    if (mtc.hcap) memset(mtc.hvals, 0, mtc.hcap * sizeof *mtc.hvals);
    mtc.hcount = 0;
}
