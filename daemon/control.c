/* Control queries (control.h): answered from a snapshot of the stack and the sessions,
 * in frames of at most PROTO_MAX_PAYLOAD. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "daemon.h"
#include "sock_service.h"
#include "uds_transport.h"

static void req_info(struct session *ss, const struct proto_msg *m)
{
    struct server *srv = ss->srv;
    struct proto_msg r = {.h = {.type = PT_INFO_REPLY, .req_id = m->h.req_id}};
    r.u.info.addr = srv->d->opt.addr;
    r.u.info.pid = (uint32_t)getpid();
    r.u.info.clients = srv->nsessions;
    size_t tl = strnlen(srv->d->tun_name, sizeof r.u.info.tun - 1);
    memcpy(r.u.info.tun, srv->d->tun_name, tl);
    r.u.info.tun[tl] = 0;
    if (m->h.req_id) out_msg(ss, &r);
}

/* Connection listing: a snapshot taken in one pass (no stop-the-world beyond the copy). */
struct conn_list {
    struct server *srv;
    uint8_t *recs;
    size_t n, cap;
    bool oom;
};

static uint8_t *list_slot(struct conn_list *cl)
{
    if (cl->n == cl->cap) {
        size_t ncap = cl->cap ? cl->cap * 2 : 64;
        uint8_t *nb = realloc(cl->recs, ncap * PROTO_CONN_REC_LEN);
        if (!nb) {
            cl->oom = true;
            return NULL;
        }
        cl->recs = nb;
        cl->cap = ncap;
    }
    return cl->recs + cl->n++ * PROTO_CONN_REC_LEN;
}

static void list_tcb(void *arg, const struct stack_conn_info *ci)
{
    struct conn_list *cl = arg;
    uint8_t *p = list_slot(cl);
    if (!p) return;
    struct proto_conn_rec r = {.proto = 6};
    snprintf(r.state, sizeof r.state, "%s", tcp_state_name(ci->state));
    r.laddr = ci->laddr;
    r.raddr = ci->raddr;
    r.lport = ci->lport;
    r.rport = ci->rport;
    r.snd_una = ci->snd_una;
    r.snd_nxt = ci->snd_nxt;
    r.snd_wnd = ci->snd_wnd;
    r.rcv_nxt = ci->rcv_nxt;
    r.rcv_wnd = ci->rcv_wnd;
    r.send_queue = ci->send_queue;
    r.recv_queue = ci->recv_queue;
    r.rto_ms = ci->rto_ms;
    r.srtt_ms = ci->srtt_ms;
    r.retransmits = ci->retransmits;
    struct ssock *s = svc_find(&cl->srv->svc, ci->handle);
    if (s) {
        r.pid = (uint32_t)s->sess->pid;
        r.uid = (uint32_t)s->sess->uid;
        r.sock_id = s->close_pending ? 0 : s->id;
        r.send_queue += (uint32_t)s->pend_len;
    }
    proto_conn_rec_encode(p, &r);
}

static void send_chunks(struct session *ss, const struct proto_hdr *req, uint8_t type,
                        const uint8_t *data, size_t len, size_t chunk)
{
    size_t off = 0;
    do {
        size_t n = len - off < chunk ? len - off : chunk;
        uint8_t *p = out_reserve(ss, PROTO_HDR_LEN + n);
        if (!p) return;
        bool more = off + n < len;
        proto_encode_hdr(p, type, more ? PROTO_F_MORE : 0, req->req_id, 0, (uint32_t)n);
        if (n) memcpy(p + PROTO_HDR_LEN, data + off, n);
        ss->out_len += PROTO_HDR_LEN + n;
        off += n;
    } while (off < len);
}

static void req_list(struct session *ss, const struct proto_msg *m)
{
    struct server *srv = ss->srv;
    struct conn_list cl = {.srv = srv};
    stack_tcp_foreach(srv->d->st, list_tcb, &cl);
    /* UDP sockets are known only here */
    for (uint32_t i = 0; i < srv->svc.nudp; i++) {
        struct ssock *s = srv->svc.udp[i];
        if (s->handle <= 0) continue;
        uint8_t *p = list_slot(&cl);
        if (!p) break;
        struct proto_conn_rec r = {.proto = 17, .state = "UNCONN"};
        r.laddr = srv->d->opt.addr;
        r.lport = s->lport;
        r.pid = (uint32_t)s->sess->pid;
        r.uid = (uint32_t)s->sess->uid;
        r.sock_id = s->id;
        proto_conn_rec_encode(p, &r);
    }
    if (cl.oom) {
        reply(ss, &m->h, 0, ENOMEM, 0, 0);
    } else if (m->h.req_id) {
        size_t per = PROTO_MAX_PAYLOAD / PROTO_CONN_REC_LEN * PROTO_CONN_REC_LEN;
        send_chunks(ss, &m->h, PT_CONN_LIST, cl.recs, cl.n * PROTO_CONN_REC_LEN, per);
    }
    free(cl.recs);
}

struct stat_buf {
    uint8_t *buf;
    size_t len, cap, frame_start;
    bool oom;
};

static void stat_add(struct session *ss, const struct proto_hdr *req, struct stat_buf *sb,
                     const char *layer, const char *name, const char *desc, uint64_t value)
{
    if (sb->oom) return;
    if (sb->cap - sb->len < 3 * 256 + 8) {
        size_t ncap = sb->cap ? sb->cap * 2 : 16384;
        uint8_t *nb = realloc(sb->buf, ncap);
        if (!nb) {
            sb->oom = true;
            return;
        }
        sb->buf = nb;
        sb->cap = ncap;
    }
    long n = proto_stat_rec_encode(sb->buf + sb->len, sb->cap - sb->len, layer, name, desc, value);
    if (n <= 0) return;
    if (sb->len + (size_t)n - sb->frame_start > PROTO_MAX_PAYLOAD) {
        /* the frame so far is full: send it, continued */
        size_t fl = sb->len - sb->frame_start;
        uint8_t *p = out_reserve(ss, PROTO_HDR_LEN + fl);
        if (p) {
            proto_encode_hdr(p, PT_STATS_LIST, PROTO_F_MORE, req->req_id, 0, (uint32_t)fl);
            memcpy(p + PROTO_HDR_LEN, sb->buf + sb->frame_start, fl);
            ss->out_len += PROTO_HDR_LEN + fl;
        }
        sb->frame_start = sb->len;
    }
    sb->len += (size_t)n;
}

static void req_stats(struct session *ss, const struct proto_msg *m)
{
    const struct stack_stats *sts = stack_stats(ss->srv->d->st);
    if (!m->h.req_id) return;
    struct stat_buf sb = {0};
#define X(layer, name, desc) stat_add(ss, &m->h, &sb, #layer, #name, desc, sts->layer##_##name);
    STACK_STATS(X)
#undef X
    if (sb.oom) {
        reply(ss, &m->h, 0, ENOMEM, 0, 0);
    } else {
        size_t fl = sb.len - sb.frame_start;
        uint8_t *p = out_reserve(ss, PROTO_HDR_LEN + fl);
        if (p) {
            proto_encode_hdr(p, PT_STATS_LIST, 0, m->h.req_id, 0, (uint32_t)fl);
            if (fl) memcpy(p + PROTO_HDR_LEN, sb.buf + sb.frame_start, fl);
            ss->out_len += PROTO_HDR_LEN + fl;
        }
    }
    free(sb.buf);
}

/* One frame from a client. Returns -1 when the client must be disconnected. */
bool control_frame(struct session *ss, const struct proto_msg *m)
{
    switch (m->h.type) {
    case PT_INFO:
        req_info(ss, m);
        return true;
    case PT_LIST_CONNS:
        req_list(ss, m);
        return true;
    case PT_STATS:
        req_stats(ss, m);
        return true;
    default:
        return false;
    }
}
