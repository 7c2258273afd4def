/* Frame encode/decode and validation. See frames.h and docs/ipc.md. */
#include "frames.h"

#include <errno.h>
#include <string.h>

/* ---- types ---- */

struct type_desc {
    uint8_t type;
    uint8_t dir;
    uint16_t flags;   /* flag bits allowed on this type */
    uint32_t min_len; /* payload bounds */
    uint32_t max_len;
    uint32_t multiple; /* payload length must be a multiple of this (0 = any) */
    const char *name;
};

#define C2D PROTO_DIR_C2D
#define D2C PROTO_DIR_D2C
#define MAXP PROTO_MAX_PAYLOAD

static const struct type_desc types[] = {
    {PT_SOCKET, C2D, 0, 4, 4, 0, "SOCKET"},
    {PT_BIND, C2D, 0, 8, 8, 0, "BIND"},
    {PT_LISTEN, C2D, 0, 4, 4, 0, "LISTEN"},
    {PT_CONNECT, C2D, 0, 8, 8, 0, "CONNECT"},
    {PT_SHUTDOWN, C2D, 0, 4, 4, 0, "SHUTDOWN"},
    {PT_CLOSE, C2D, PROTO_F_ABORT, 0, 0, 0, "CLOSE"},
    {PT_SETOPT, C2D, 0, 8, 8, 0, "SETOPT"},
    {PT_GETOPT, C2D, 0, 4, 4, 0, "GETOPT"},
    {PT_INFO, C2D, 0, 0, 0, 0, "INFO"},
    {PT_LIST_CONNS, C2D, 0, 0, 0, 0, "LIST_CONNS"},
    {PT_STATS, C2D, 0, 0, 0, 0, "STATS"},
    {PT_CAPTURE, C2D, 0, 12, 12, 0, "CAPTURE"},
    {PT_CAPTURE_STOP, C2D, 0, 0, 0, 0, "CAPTURE_STOP"},
    {PT_CAPTURE_DATA, D2C, 0, 8, MAXP, 0, "CAPTURE_DATA"},
    {PT_DATA, C2D | D2C, 0, 0, MAXP, 0, "DATA"},
    {PT_DGRAM, C2D | D2C, 0, 8, MAXP, 0, "DGRAM"},
    {PT_CREDIT, C2D, 0, 4, 4, 0, "CREDIT"},
    {PT_SEND_CREDIT, D2C, 0, 4, 4, 0, "SEND_CREDIT"},
    {PT_REPLY, D2C, 0, 12, 12, 0, "REPLY"},
    {PT_INFO_REPLY, D2C, 0, 32, 32, 0, "INFO_REPLY"},
    {PT_CONN_LIST, D2C, PROTO_F_MORE, 0, MAXP, PROTO_CONN_REC_LEN, "CONN_LIST"},
    {PT_STATS_LIST, D2C, PROTO_F_MORE, 0, MAXP, 0, "STATS_LIST"},
    {PT_EV_ACCEPTED, D2C, 0, 20, 20, 0, "EV_ACCEPTED"},
    {PT_EV_CONNECTED, D2C, 0, 12, 12, 0, "EV_CONNECTED"},
    {PT_EV_EOF, D2C, 0, 0, 0, 0, "EV_EOF"},
    {PT_EV_ERROR, D2C, 0, 4, 4, 0, "EV_ERROR"},
};

static const struct type_desc *type_find(uint8_t type)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (types[i].type == type) return &types[i];
    return NULL;
}

unsigned proto_type_dir(uint8_t type)
{
    const struct type_desc *t = type_find(type);
    return t ? t->dir : 0;
}

const char *proto_type_name(uint8_t type)
{
    const struct type_desc *t = type_find(type);
    return t ? t->name : "UNKNOWN";
}

const char *proto_result_str(int r)
{
    switch (r) {
    case PROTO_OK:
        return "ok";
    case PROTO_ETRUNC:
        return "truncated frame";
    case PROTO_EMAGIC:
        return "bad magic";
    case PROTO_EVERSION:
        return "unsupported protocol version";
    case PROTO_ETYPE:
        return "unknown frame type";
    case PROTO_ELEN:
        return "payload too long";
    case PROTO_EFLAGS:
        return "unknown flags or reserved bits set";
    case PROTO_EPAYLOAD:
        return "malformed payload";
    case PROTO_ENOSPC:
        return "output buffer too small";
    }
    return "unknown result";
}

/* ---- errors ---- */

static const struct {
    uint32_t pe;
    int e;
    const char *name;
} errs[] = {
    {PE_OK, 0, "OK"},
    {PE_INVAL, EINVAL, "EINVAL"},
    {PE_BADF, EBADF, "EBADF"},
    {PE_ADDRINUSE, EADDRINUSE, "EADDRINUSE"},
    {PE_CONNREFUSED, ECONNREFUSED, "ECONNREFUSED"},
    {PE_CONNRESET, ECONNRESET, "ECONNRESET"},
    {PE_TIMEDOUT, ETIMEDOUT, "ETIMEDOUT"},
    {PE_PIPE, EPIPE, "EPIPE"},
    {PE_NOTCONN, ENOTCONN, "ENOTCONN"},
    {PE_ISCONN, EISCONN, "EISCONN"},
    {PE_MFILE, EMFILE, "EMFILE"},
    {PE_NOMEM, ENOMEM, "ENOMEM"},
    {PE_AGAIN, EAGAIN, "EAGAIN"},
    {PE_OPNOTSUPP, EOPNOTSUPP, "EOPNOTSUPP"},
    {PE_MSGSIZE, EMSGSIZE, "EMSGSIZE"},
    {PE_ADDRNOTAVAIL, EADDRNOTAVAIL, "EADDRNOTAVAIL"},
    {PE_NETUNREACH, ENETUNREACH, "ENETUNREACH"},
    {PE_HOSTUNREACH, EHOSTUNREACH, "EHOSTUNREACH"},
    {PE_PROTO, EPROTO, "EPROTO"},
    {PE_NOPROTOOPT, ENOPROTOOPT, "ENOPROTOOPT"},
    {PE_ALREADY, EALREADY, "EALREADY"},
    {PE_CONNABORTED, ECONNABORTED, "ECONNABORTED"},
    {PE_NOBUFS, ENOBUFS, "ENOBUFS"},
    {PE_INPROGRESS, EINPROGRESS, "EINPROGRESS"},
    {PE_USERS, EUSERS, "EUSERS"},
    {PE_NFILE, ENFILE, "ENFILE"},
    {PE_ACCES, EACCES, "EACCES"},
    {PE_PERM, EPERM, "EPERM"},
};

int proto_err_to_errno(uint32_t err)
{
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
        if (errs[i].pe == err) return errs[i].e;
    return EIO;
}

uint32_t proto_err_from_errno(int e)
{
    if (e < 0) e = -e;
    if (e == EWOULDBLOCK) e = EAGAIN;
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
        if (errs[i].e == e) return errs[i].pe;
    return PE_OTHER;
}

const char *proto_err_name(uint32_t err)
{
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
        if (errs[i].pe == err) return errs[i].name;
    return "EOTHER";
}

/* ---- header ---- */

void proto_encode_hdr(uint8_t *out, uint8_t type, uint16_t flags, uint32_t req_id, uint32_t sock_id,
                      uint32_t len)
{
    out[0] = PROTO_MAGIC0;
    out[1] = PROTO_MAGIC1;
    out[2] = PROTO_VERSION;
    out[3] = type;
    proto_put16(out + 4, flags);
    proto_put16(out + 6, 0);
    proto_put32(out + 8, req_id);
    proto_put32(out + 12, sock_id);
    proto_put32(out + 16, len);
}

int proto_decode_hdr(const uint8_t *buf, size_t avail, struct proto_hdr *h)
{
    if (avail >= 1 && buf[0] != PROTO_MAGIC0) return PROTO_EMAGIC;
    if (avail >= 2 && buf[1] != PROTO_MAGIC1) return PROTO_EMAGIC;
    if (avail >= 3 && buf[2] != PROTO_VERSION) return PROTO_EVERSION;
    if (avail < PROTO_HDR_LEN) return PROTO_ETRUNC;
    const struct type_desc *t = type_find(buf[3]);
    if (!t) return PROTO_ETYPE;
    h->type = buf[3];
    h->flags = proto_get16(buf + 4);
    h->req_id = proto_get32(buf + 8);
    h->sock_id = proto_get32(buf + 12);
    h->len = proto_get32(buf + 16);
    if (proto_get16(buf + 6) != 0 || (h->flags & ~t->flags)) return PROTO_EFLAGS;
    if (h->len > PROTO_MAX_PAYLOAD) return PROTO_ELEN;
    if (h->len < t->min_len || h->len > t->max_len) return PROTO_EPAYLOAD;
    if (t->multiple && h->len % t->multiple) return PROTO_EPAYLOAD;
    return PROTO_OK;
}

/* ---- whole frames ---- */

static int stat_records_valid(const uint8_t *p, size_t len)
{
    size_t off = 0;
    struct proto_stat_rec r;
    int rc;
    while ((rc = proto_stat_rec_next(p, len, &off, &r)) == 1) {
    }
    return rc == 0;
}

int proto_decode(const uint8_t *buf, size_t avail, struct proto_msg *m, size_t *frame_len)
{
    int rc = proto_decode_hdr(buf, avail, &m->h);
    if (rc != PROTO_OK) return rc;
    if (avail - PROTO_HDR_LEN < m->h.len) return PROTO_ETRUNC;
    const uint8_t *p = buf + PROTO_HDR_LEN;
    size_t n = m->h.len;
    memset(&m->u, 0, sizeof m->u);

    switch (m->h.type) {
    case PT_SOCKET:
        m->u.socket.kind = p[0];
        if (p[0] != PROTO_SOCK_STREAM && p[0] != PROTO_SOCK_DGRAM) return PROTO_EPAYLOAD;
        if (p[1] || p[2] || p[3]) return PROTO_EPAYLOAD;
        break;
    case PT_BIND:
    case PT_CONNECT:
        m->u.addr.addr = proto_get32(p);
        m->u.addr.port = proto_get16(p + 4);
        if (proto_get16(p + 6)) return PROTO_EPAYLOAD;
        break;
    case PT_LISTEN:
        m->u.listen.backlog = proto_get32(p);
        break;
    case PT_SHUTDOWN:
        m->u.shutdown.how = proto_get32(p);
        if (m->u.shutdown.how < PROTO_SHUT_RD || m->u.shutdown.how > PROTO_SHUT_RDWR)
            return PROTO_EPAYLOAD;
        break;
    case PT_SETOPT:
        m->u.setopt.opt = proto_get32(p);
        m->u.setopt.value = (int32_t)proto_get32(p + 4);
        break;
    case PT_GETOPT:
        m->u.setopt.opt = proto_get32(p);
        m->u.setopt.value = 0;
        break;
    case PT_CLOSE:
    case PT_INFO:
    case PT_LIST_CONNS:
    case PT_STATS:
    case PT_CAPTURE_STOP:
    case PT_EV_EOF:
        break;
    case PT_CAPTURE:
        m->u.capture.host = proto_get32(p);
        m->u.capture.port = proto_get16(p + 4);
        m->u.capture.flags = p[6];
        m->u.capture.snaplen = proto_get32(p + 8);
        if ((p[6] & ~PROTO_CAPTURE_NS) || p[7]) return PROTO_EPAYLOAD;
        break;
    case PT_CAPTURE_DATA:
        m->u.capdata.drops = proto_get32(p);
        if (proto_get32(p + 4)) return PROTO_EPAYLOAD;
        m->u.capdata.ptr = p + 8;
        m->u.capdata.len = n - 8;
        break;
    case PT_DATA:
    case PT_CONN_LIST:
        m->u.data.ptr = p;
        m->u.data.len = n;
        break;
    case PT_STATS_LIST:
        if (!stat_records_valid(p, n)) return PROTO_EPAYLOAD;
        m->u.data.ptr = p;
        m->u.data.len = n;
        break;
    case PT_DGRAM:
        m->u.dgram.addr = proto_get32(p);
        m->u.dgram.port = proto_get16(p + 4);
        if (proto_get16(p + 6)) return PROTO_EPAYLOAD;
        m->u.dgram.ptr = p + 8;
        m->u.dgram.len = n - 8;
        break;
    case PT_CREDIT:
    case PT_SEND_CREDIT:
        m->u.credit.n = proto_get32(p);
        break;
    case PT_REPLY:
        m->u.reply.status = proto_get32(p);
        m->u.reply.val0 = proto_get32(p + 4);
        m->u.reply.val1 = proto_get32(p + 8);
        break;
    case PT_INFO_REPLY:
        m->u.info.status = proto_get32(p);
        m->u.info.addr = proto_get32(p + 4);
        m->u.info.pid = proto_get32(p + 8);
        m->u.info.clients = proto_get32(p + 12);
        memcpy(m->u.info.tun, p + 16, 16);
        m->u.info.tun[16] = 0;
        break;
    case PT_EV_ACCEPTED:
        m->u.accepted.new_id = proto_get32(p);
        m->u.accepted.laddr = proto_get32(p + 4);
        m->u.accepted.raddr = proto_get32(p + 8);
        m->u.accepted.lport = proto_get16(p + 12);
        m->u.accepted.rport = proto_get16(p + 14);
        m->u.accepted.send_credit = proto_get32(p + 16);
        if (m->u.accepted.new_id == 0) return PROTO_EPAYLOAD;
        break;
    case PT_EV_CONNECTED:
        m->u.connected.laddr = proto_get32(p);
        m->u.connected.lport = proto_get16(p + 4);
        if (proto_get16(p + 6)) return PROTO_EPAYLOAD;
        m->u.connected.send_credit = proto_get32(p + 8);
        break;
    case PT_EV_ERROR:
        m->u.error.err = proto_get32(p);
        if (m->u.error.err == PE_OK) return PROTO_EPAYLOAD;
        break;
    default:
        return PROTO_ETYPE; /* unreachable: the header check knows the types */
    }
    *frame_len = PROTO_HDR_LEN + n;
    return PROTO_OK;
}

long proto_payload_len(const struct proto_msg *m)
{
    const struct type_desc *t = type_find(m->h.type);
    if (!t) return PROTO_ETYPE;
    size_t n;
    switch (m->h.type) {
    case PT_DATA:
    case PT_CONN_LIST:
    case PT_STATS_LIST:
        n = m->u.data.len;
        break;
    case PT_DGRAM:
        n = 8 + m->u.dgram.len;
        break;
    case PT_CAPTURE_DATA:
        n = 8 + m->u.capdata.len;
        break;
    default:
        n = t->min_len;
        break;
    }
    if (n < t->min_len || n > t->max_len) return PROTO_EPAYLOAD;
    if (t->multiple && n % t->multiple) return PROTO_EPAYLOAD;
    return (long)n;
}

/* A fixed-width, NUL-padded string field (not necessarily NUL-terminated). */
static void put_fixed_str(uint8_t *dst, const char *src, size_t width)
{
    size_t n = strnlen(src, width);
    memcpy(dst, src, n);
    memset(dst + n, 0, width - n);
}

long proto_encode(const struct proto_msg *m, uint8_t *out, size_t cap)
{
    long pl = proto_payload_len(m);
    if (pl < 0) return pl;
    const struct type_desc *t = type_find(m->h.type);
    if (m->h.flags & ~t->flags) return PROTO_EFLAGS;
    size_t total = PROTO_HDR_LEN + (size_t)pl;
    if (cap < total) return PROTO_ENOSPC;
    proto_encode_hdr(out, m->h.type, m->h.flags, m->h.req_id, m->h.sock_id, (uint32_t)pl);
    uint8_t *p = out + PROTO_HDR_LEN;
    memset(p, 0, t->min_len);
    switch (m->h.type) {
    case PT_SOCKET:
        p[0] = m->u.socket.kind;
        break;
    case PT_BIND:
    case PT_CONNECT:
        proto_put32(p, m->u.addr.addr);
        proto_put16(p + 4, m->u.addr.port);
        break;
    case PT_LISTEN:
        proto_put32(p, m->u.listen.backlog);
        break;
    case PT_SHUTDOWN:
        proto_put32(p, m->u.shutdown.how);
        break;
    case PT_SETOPT:
        proto_put32(p, m->u.setopt.opt);
        proto_put32(p + 4, (uint32_t)m->u.setopt.value);
        break;
    case PT_GETOPT:
        proto_put32(p, m->u.setopt.opt);
        break;
    case PT_DATA:
    case PT_CONN_LIST:
    case PT_STATS_LIST:
        if (m->u.data.len) memcpy(p, m->u.data.ptr, m->u.data.len);
        break;
    case PT_DGRAM:
        proto_put32(p, m->u.dgram.addr);
        proto_put16(p + 4, m->u.dgram.port);
        if (m->u.dgram.len) memcpy(p + 8, m->u.dgram.ptr, m->u.dgram.len);
        break;
    case PT_CREDIT:
    case PT_SEND_CREDIT:
        proto_put32(p, m->u.credit.n);
        break;
    case PT_REPLY:
        proto_put32(p, m->u.reply.status);
        proto_put32(p + 4, m->u.reply.val0);
        proto_put32(p + 8, m->u.reply.val1);
        break;
    case PT_INFO_REPLY:
        proto_put32(p, m->u.info.status);
        proto_put32(p + 4, m->u.info.addr);
        proto_put32(p + 8, m->u.info.pid);
        proto_put32(p + 12, m->u.info.clients);
        put_fixed_str(p + 16, m->u.info.tun, 16);
        break;
    case PT_EV_ACCEPTED:
        proto_put32(p, m->u.accepted.new_id);
        proto_put32(p + 4, m->u.accepted.laddr);
        proto_put32(p + 8, m->u.accepted.raddr);
        proto_put16(p + 12, m->u.accepted.lport);
        proto_put16(p + 14, m->u.accepted.rport);
        proto_put32(p + 16, m->u.accepted.send_credit);
        break;
    case PT_EV_CONNECTED:
        proto_put32(p, m->u.connected.laddr);
        proto_put16(p + 4, m->u.connected.lport);
        proto_put32(p + 8, m->u.connected.send_credit);
        break;
    case PT_EV_ERROR:
        proto_put32(p, m->u.error.err);
        break;
    case PT_CAPTURE:
        proto_put32(p, m->u.capture.host);
        proto_put16(p + 4, m->u.capture.port);
        p[6] = m->u.capture.flags;
        proto_put32(p + 8, m->u.capture.snaplen);
        break;
    case PT_CAPTURE_DATA:
        proto_put32(p, m->u.capdata.drops);
        if (m->u.capdata.len) memcpy(p + 8, m->u.capdata.ptr, m->u.capdata.len);
        break;
    default:
        break; /* empty payloads */
    }
    return (long)total;
}

/* ---- connection records ---- */

void proto_conn_rec_encode(uint8_t *out, const struct proto_conn_rec *r)
{
    memset(out, 0, PROTO_CONN_REC_LEN);
    out[0] = r->proto;
    put_fixed_str(out + 4, r->state, PROTO_STATE_LEN);
    proto_put32(out + 16, r->laddr);
    proto_put32(out + 20, r->raddr);
    proto_put16(out + 24, r->lport);
    proto_put16(out + 26, r->rport);
    const uint32_t v[] = {r->snd_una,    r->snd_nxt,    r->snd_wnd, r->rcv_nxt, r->rcv_wnd,
                          r->send_queue, r->recv_queue, r->rto_ms,  r->srtt_ms, r->retransmits,
                          r->pid,        r->uid,        r->sock_id};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        proto_put32(out + 28 + 4 * i, v[i]);
    put_fixed_str(out + 80, r->cc, PROTO_CC_LEN + 1);
    const uint32_t w[] = {r->cwnd,   r->ssthresh, r->rttvar_ms,  r->in_flight,
                          r->sacked, r->lost,     r->reord_seen, r->dup_segs_rcvd};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        proto_put32(out + 96 + 4 * i, w[i]);
    proto_put64(out + 128, r->delivery_rate);
    out[136] = r->opts;
    out[137] = r->snd_wscale;
    out[138] = r->rcv_wscale;
}

void proto_conn_rec_decode(const uint8_t *in, struct proto_conn_rec *r)
{
    memset(r, 0, sizeof *r);
    r->proto = in[0];
    memcpy(r->state, in + 4, PROTO_STATE_LEN);
    r->state[PROTO_STATE_LEN] = 0;
    /* a state name is printable; anything else is shown as '?' */
    for (char *c = r->state; *c; c++)
        if (*c < 0x21 || *c > 0x7e) *c = '?';
    r->laddr = proto_get32(in + 16);
    r->raddr = proto_get32(in + 20);
    r->lport = proto_get16(in + 24);
    r->rport = proto_get16(in + 26);
    uint32_t *v[] = {&r->snd_una,    &r->snd_nxt,    &r->snd_wnd, &r->rcv_nxt, &r->rcv_wnd,
                     &r->send_queue, &r->recv_queue, &r->rto_ms,  &r->srtt_ms, &r->retransmits,
                     &r->pid,        &r->uid,        &r->sock_id};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        *v[i] = proto_get32(in + 28 + 4 * i);
    memcpy(r->cc, in + 80, PROTO_CC_LEN);
    r->cc[PROTO_CC_LEN] = 0;
    for (char *c = r->cc; *c; c++)
        if (*c < 0x21 || *c > 0x7e) *c = '?';
    uint32_t *w[] = {&r->cwnd,   &r->ssthresh, &r->rttvar_ms,  &r->in_flight,
                     &r->sacked, &r->lost,     &r->reord_seen, &r->dup_segs_rcvd};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        *w[i] = proto_get32(in + 96 + 4 * i);
    r->delivery_rate = proto_get64(in + 128);
    r->opts = in[136];
    r->snd_wscale = in[137];
    r->rcv_wscale = in[138];
}

/* ---- stat records ---- */

long proto_stat_rec_encode(uint8_t *out, size_t cap, const char *layer, const char *name,
                           const char *desc, uint64_t value)
{
    size_t ll = strlen(layer), nl = strlen(name), dl = strlen(desc);
    if (ll == 0 || ll > 255 || nl == 0 || nl > 255 || dl > 255) return PROTO_EPAYLOAD;
    size_t total = 3 + ll + nl + dl + 8;
    if (cap < total) return PROTO_ENOSPC;
    uint8_t *p = out;
    *p++ = (uint8_t)ll;
    memcpy(p, layer, ll);
    p += ll;
    *p++ = (uint8_t)nl;
    memcpy(p, name, nl);
    p += nl;
    *p++ = (uint8_t)dl;
    memcpy(p, desc, dl);
    p += dl;
    proto_put64(p, value);
    return (long)total;
}

/* Reads a u8-length-prefixed string into dst (256 bytes). */
static int get_str(const uint8_t *buf, size_t len, size_t *off, char *dst, bool allow_empty)
{
    if (*off >= len) return -1;
    size_t n = buf[*off];
    if ((!n && !allow_empty) || len - *off - 1 < n) return -1;
    memcpy(dst, buf + *off + 1, n);
    dst[n] = 0;
    if (memchr(dst, 0, n)) return -1;
    *off += 1 + n;
    return 0;
}

int proto_stat_rec_next(const uint8_t *buf, size_t len, size_t *off, struct proto_stat_rec *r)
{
    if (*off == len) return 0;
    size_t o = *off;
    if (get_str(buf, len, &o, r->layer, false) || get_str(buf, len, &o, r->name, false) ||
        get_str(buf, len, &o, r->desc, true) || len - o < 8)
        return PROTO_EPAYLOAD;
    r->value = proto_get64(buf + o);
    *off = o + 8;
    return 1;
}
