/* Control queries (control.h): INFO and STATS answered at once (bounded), LIST_CONNS in
 * steps, in frames of at most PROTO_MAX_PAYLOAD. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
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

/* Connection listing, served in steps (docs/architecture.md "Client sessions"): each step
 * walks a bounded part of the stack's tables (stack_tcp_list) and then the UDP sockets, and
 * sends a frame when it holds a frame's worth of records. A step runs only while the
 * requester's output has room and ends its slice, so a listing costs the requester its own
 * output back-pressure and never holds the loop: one client pipelining LIST_CONNS gets one
 * step per loop iteration, like every other client. */
#define LIST_PER_FRAME (PROTO_MAX_PAYLOAD / PROTO_CONN_REC_LEN)
#define LIST_STEP_BUCKETS 4096 /* hash buckets or handle slots visited per step */

struct listing {
    struct server *srv;
    uid_t uid;       /* the requester's */
    unsigned rights; /* ACCESS_*: whose owners it sees */
    uint32_t req_id;
    struct stack_list_cursor cur;
    bool tcp_done;
    uint32_t udp_next;
    bool sent_any;
    bool oom;
    uint8_t *recs; /* records not sent yet */
    size_t n, cap;
};

static uint8_t *list_slot(struct listing *cl)
{
    if (cl->n == cl->cap) {
        size_t ncap = cl->cap ? cl->cap * 2 : LIST_PER_FRAME;
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
    struct listing *cl = arg;
    uint8_t *p = list_slot(cl);
    if (!p) return;
    struct proto_conn_rec r = {.proto = 6};
    snprintf(r.state, sizeof r.state, "%s", tcp_state_name(ci->state));
    r.laddr = ipa_v4_or_0(ci->laddr);
    r.raddr = ipa_v4_or_0(ci->raddr);
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
    snprintf(r.cc, sizeof r.cc, "%s", ci->cc);
    r.cwnd = ci->cwnd;
    r.ssthresh = ci->ssthresh;
    r.rttvar_ms = ci->rttvar_ms;
    r.in_flight = ci->in_flight;
    r.sacked = ci->sacked;
    r.lost = ci->lost;
    r.reord_seen = ci->reord_seen;
    r.dup_segs_rcvd = ci->dup_segs_rcvd;
    r.delivery_rate = ci->delivery_rate;
    r.opts = (uint8_t)((ci->sack_ok ? PROTO_CONN_SACK : 0) | (ci->ts_ok ? PROTO_CONN_TS : 0) |
                       (ci->ws_ok ? PROTO_CONN_WS : 0));
    r.snd_wscale = ci->snd_wscale;
    r.rcv_wscale = ci->rcv_wscale;
    struct ssock *s = svc_find(&cl->srv->svc, ci->handle);
    if (s) {
        r.uid = (uint32_t)s->sess->uid;
        if (access_see_owner(cl->rights, s->sess->uid, cl->uid)) {
            r.pid = (uint32_t)s->sess->pid;
            r.sock_id = s->close_pending ? 0 : s->id;
        }
        r.send_queue += (uint32_t)s->pend_len;
    }
    proto_conn_rec_encode(p, &r);
}

/* Sends up to one frame of the records held; the last frame has no PROTO_F_MORE. */
static void list_send(struct session *ss, struct listing *cl, bool last)
{
    size_t k = cl->n < LIST_PER_FRAME ? cl->n : LIST_PER_FRAME;
    if (last && k < cl->n) last = false;
    size_t len = k * PROTO_CONN_REC_LEN;
    uint8_t *p = out_reserve(ss, PROTO_HDR_LEN + len);
    if (!p) {
        cl->oom = true;
        return;
    }
    proto_encode_hdr(p, PT_CONN_LIST, last ? 0 : PROTO_F_MORE, cl->req_id, 0, (uint32_t)len);
    if (len) memcpy(p + PROTO_HDR_LEN, cl->recs, len);
    out_commit(ss, PROTO_HDR_LEN + len);
    memmove(cl->recs, cl->recs + len, (cl->n - k) * PROTO_CONN_REC_LEN);
    cl->n -= k;
    cl->sent_any = true;
}

static void list_free(struct session *ss)
{
    struct listing *cl = ss->job;
    if (!cl) return;
    free(cl->recs);
    free(cl);
    ss->job = NULL;
}

void control_abort(struct session *ss)
{
    list_free(ss);
}

bool control_step(struct session *ss)
{
    struct listing *cl = ss->job;
    struct server *srv = ss->srv;
    if (!cl) return true;
    if (!cl->tcp_done)
        cl->tcp_done =
            stack_tcp_list(srv->d->st, &cl->cur, LIST_PER_FRAME, LIST_STEP_BUCKETS, list_tcb, cl);
    /* UDP sockets are known only here */
    while (cl->tcp_done && cl->n < LIST_PER_FRAME && cl->udp_next < srv->svc.nudp) {
        const struct ssock *s = srv->svc.udp[cl->udp_next++];
        if (s->handle <= 0) continue;
        uint8_t *p = list_slot(cl);
        if (!p) break;
        struct proto_conn_rec r = {.proto = 17, .state = "UNCONN"};
        r.laddr = srv->d->opt.addr;
        r.lport = s->lport;
        r.uid = (uint32_t)s->sess->uid;
        if (access_see_owner(cl->rights, s->sess->uid, cl->uid)) {
            r.pid = (uint32_t)s->sess->pid;
            r.sock_id = s->id;
        }
        proto_conn_rec_encode(p, &r);
    }
    bool done = cl->tcp_done && cl->udp_next >= srv->svc.nudp;
    if (cl->oom) {
        if (!cl->sent_any) {
            struct proto_hdr h = {.req_id = cl->req_id};
            reply(ss, &h, 0, ENOMEM, 0, 0);
            list_free(ss);
            return true;
        }
        done = true; /* a shortened listing rather than a client waiting forever */
    }
    while (cl->n > LIST_PER_FRAME || (cl->n == LIST_PER_FRAME && !done)) {
        size_t before = cl->n;
        list_send(ss, cl, false);
        if (cl->n == before) break; /* out of memory */
    }
    if (done) {
        list_send(ss, cl, true); /* the last frame, empty when nothing is left */
        list_free(ss);
    }
    return done;
}

static void req_list(struct session *ss, const struct proto_msg *m)
{
    if (!m->h.req_id) return; /* nobody would read it */
    struct listing *cl = calloc(1, sizeof *cl);
    if (!cl) {
        reply(ss, &m->h, 0, ENOMEM, 0, 0);
        return;
    }
    cl->srv = ss->srv;
    cl->uid = ss->uid;
    cl->rights = ss->rights;
    cl->req_id = m->h.req_id;
    ss->job = cl;
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
            out_commit(ss, PROTO_HDR_LEN + fl);
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
    const struct server *srv = ss->srv;
    stat_add(ss, &m->h, &sb, "daemon", "clients", "client sessions", srv->nsessions);
    stat_add(ss, &m->h, &sb, "daemon", "clients_refused_uid",
             "clients refused: --max-clients-per-uid reached", srv->refused_uid);
    stat_add(ss, &m->h, &sb, "daemon", "clients_refused_max",
             "clients refused: the daemon's client limit reached", srv->refused_total);
    stat_add(ss, &m->h, &sb, "daemon", "socks_refused_uid",
             "sockets refused: --max-socks-per-uid reached", srv->acl.refused_socks);
    stat_add(ss, &m->h, &sb, "daemon", "buffered_refusals_uid",
             "buffer growth refused: a uid's --max-buffered-per-uid reached",
             access_buffered_refusals(&srv->acl));
    stat_add(ss, &m->h, &sb, "daemon", "capture_readers", "live capture readers now", srv->cap.n);
    stat_add(ss, &m->h, &sb, "daemon", "capture_packets", "packets queued to live capture readers",
             srv->cap.packets);
    stat_add(ss, &m->h, &sb, "daemon", "capture_drops",
             "packets live capture readers lost (reader too slow)", srv->cap.drops);
    stat_add(ss, &m->h, &sb, "daemon", "slices_yielded",
             "client slices ended by the per-iteration budget", srv->slices_yielded);
    stat_add(ss, &m->h, &sb, "daemon", "shm_sessions",
             "client sessions switched to shared-memory rings", srv->shm_sessions);
    stat_add(ss, &m->h, &sb, "daemon", "shm_errors",
             "clients closed for corrupting their shared rings", srv->shm_errors);
    if (sb.oom) {
        reply(ss, &m->h, 0, ENOMEM, 0, 0);
    } else {
        size_t fl = sb.len - sb.frame_start;
        uint8_t *p = out_reserve(ss, PROTO_HDR_LEN + fl);
        if (p) {
            proto_encode_hdr(p, PT_STATS_LIST, 0, m->h.req_id, 0, (uint32_t)fl);
            if (fl) memcpy(p + PROTO_HDR_LEN, sb.buf + sb.frame_start, fl);
            out_commit(ss, PROTO_HDR_LEN + fl);
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
