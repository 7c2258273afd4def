#include "tcp_harness.h"

#ifdef TH_NO_CRITERION
/* Linked into a bench program (bench/cc_goodput.c): a failed check ends the program. */
#include <stdlib.h>
#define TH_CHECK_(cond, ...)                                                                       \
    ((cond) ? (void)0                                                                              \
            : (fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond), abort()))
#define TH_CHECK_EQ_(a, b, ...) TH_CHECK_((a) == (b), 0)
#define cr_assert(...) TH_CHECK_(__VA_ARGS__, 0)
#define cr_assert_eq(...) TH_CHECK_EQ_(__VA_ARGS__, 0)
#define TH_CHECK_GT_(a, b, ...) TH_CHECK_((a) > (b), 0)
#define cr_assert_gt(...) TH_CHECK_GT_(__VA_ARGS__, 0)
#define cr_assert_fail(...) TH_CHECK_(0, 0)
#else
#include <criterion/criterion.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- an independent RFC 1071 checksum ---- */

static uint32_t th_sum(uint32_t acc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        acc += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1) acc += (uint32_t)p[n - 1] << 8;
    return acc;
}

static uint16_t th_fold(uint32_t acc)
{
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return (uint16_t)~acc;
}

static void wr16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, v >> 16);
    wr16(p + 2, v & 0xffff);
}
static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)rd16(p) << 16 | rd16(p + 2);
}

/* ---- callbacks ---- */

static void th_capture(struct th_engine *e, const uint8_t *pkt, size_t len)
{
    if (e->npkt == e->pkt_cap) {
        size_t ncap = e->pkt_cap ? e->pkt_cap * 2 : 64;
        e->pkt = realloc(e->pkt, ncap * sizeof *e->pkt);
        e->pkt_len = realloc(e->pkt_len, ncap * sizeof *e->pkt_len);
        cr_assert(e->pkt && e->pkt_len);
        e->pkt_cap = ncap;
    }
    uint8_t *c = malloc(len ? len : 1);
    cr_assert(c);
    memcpy(c, pkt, len);
    e->pkt[e->npkt] = c;
    e->pkt_len[e->npkt] = len;
    e->npkt++;
}

static void th_link_enqueue(struct th_link *l, int from, const uint8_t *pkt, size_t len);

static void th_output_cb(void *ctx, const uint8_t *pkt, size_t len)
{
    struct th_engine *e = ctx;
    if (e->link)
        th_link_enqueue(e->link, e->side, pkt, len);
    else
        th_capture(e, pkt, len);
}

static void th_event_cb(void *ctx, int handle, unsigned events)
{
    struct th_engine *e = ctx;
    if (e->nev == e->ev_cap) {
        e->ev_cap = e->ev_cap ? e->ev_cap * 2 : 64;
        e->ev = realloc(e->ev, e->ev_cap * sizeof *e->ev);
        cr_assert(e->ev);
    }
    e->ev[e->nev].handle = handle;
    e->ev[e->nev].events = events;
    e->nev++;
}

static void th_trace_cb(void *ctx, const char *line)
{
    struct th_engine *e = ctx;
    if (!e->trace_on) return;
    if (e->nlines == e->lines_cap) {
        e->lines_cap = e->lines_cap ? e->lines_cap * 2 : 64;
        e->lines = realloc(e->lines, e->lines_cap * sizeof *e->lines);
        cr_assert(e->lines);
    }
    size_t n = strlen(line) + 1;
    char *c = malloc(n);
    cr_assert(c);
    memcpy(c, line, n);
    e->lines[e->nlines++] = c;
}

/* ---- engines ---- */

void th_config(struct stack_config *cfg, uint32_t addr)
{
    stack_config_defaults(cfg);
    cfg->addr = addr;
    for (int i = 0; i < 16; i++)
        cfg->isn_secret[i] = (uint8_t)(i * 17 + 3);
}

struct th_engine *th_new(const struct stack_config *cfg, bool trace)
{
    struct th_engine *e = calloc(1, sizeof *e);
    cr_assert(e);
    e->cfg = *cfg;
    e->cfg.output = th_output_cb;
    e->cfg.event = th_event_cb;
    e->cfg.trace = trace ? th_trace_cb : NULL;
    e->cfg.ctx = e;
    e->trace_on = trace;
    e->st = stack_new(&e->cfg);
    cr_assert(e->st, "stack_new failed");
    return e;
}

struct th_engine *th_default(void)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    return th_new(&cfg, true);
}

void th_drop_out(struct th_engine *e)
{
    for (size_t i = e->pkt_head; i < e->npkt; i++)
        free(e->pkt[i]);
    e->npkt = e->pkt_head = 0;
}

void th_clear(struct th_engine *e)
{
    th_drop_out(e);
    e->nev = 0;
    for (size_t i = 0; i < e->nlines; i++)
        free(e->lines[i]);
    e->nlines = 0;
}

void th_free(struct th_engine *e)
{
    if (!e) return;
    stack_free(e->st);
    th_clear(e);
    free(e->pkt);
    free(e->pkt_len);
    free(e->ev);
    free(e->lines);
    free(e);
}

size_t th_build(const struct th_spec *s, uint8_t *buf, size_t cap)
{
    size_t optlen = (s->optlen + 3) & ~(size_t)3;
    size_t hl = 20 + optlen;
    size_t total = 20 + hl + s->len;
    cr_assert(total <= cap && optlen <= 40);
    memset(buf, 0, total);
    uint32_t src = s->src ? s->src : TH_PEER, dst = s->dst ? s->dst : TH_US;
    /* IPv4 */
    buf[0] = 0x45;
    wr16(buf + 2, (uint32_t)total);
    wr16(buf + 4, 1);
    buf[8] = 64;
    buf[9] = 6;
    wr32(buf + 12, src);
    wr32(buf + 16, dst);
    wr16(buf + 10, th_fold(th_sum(0, buf, 20)));
    /* TCP */
    uint8_t *t = buf + 20;
    wr16(t, s->sport);
    wr16(t + 2, s->dport);
    wr32(t + 4, s->seq);
    wr32(t + 8, s->ack);
    t[12] = (uint8_t)((s->bad_doff ? (unsigned)s->bad_doff : hl / 4) << 4);
    t[13] = s->flags;
    wr16(t + 14, s->wnd);
    if (s->optlen) memcpy(t + 20, s->opt, s->optlen);
    if (s->len) memcpy(t + hl, s->data, s->len);
    size_t tl = hl + s->len;
    uint32_t acc = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 6 + (uint32_t)tl;
    wr16(t + 16, th_fold(th_sum(acc, t, tl)));
    return total;
}

void th_seg(struct th_engine *e, const struct th_spec *s)
{
    static uint8_t buf[70000];
    size_t n = th_build(s, buf, sizeof buf);
    stack_input(e->st, buf, n, e->now);
}

void th_poll(struct th_engine *e, uint64_t now)
{
    e->now = now;
    stack_poll(e->st, now);
}

size_t th_pending(const struct th_engine *e)
{
    return e->npkt - e->pkt_head;
}

static void th_parse(const uint8_t *p, size_t n, struct th_out *o)
{
    cr_assert(n >= 40, "short packet %zu", n);
    cr_assert_eq(p[0], 0x45);
    cr_assert_eq(rd16(p + 2), n);
    cr_assert_eq(th_fold(th_sum(0, p, 20)), 0, "bad IP checksum");
    cr_assert_eq(p[9], 6, "not TCP");
    o->src = rd32(p + 12);
    o->dst = rd32(p + 16);
    const uint8_t *t = p + 20;
    size_t tl = n - 20;
    uint32_t acc =
        (o->src >> 16) + (o->src & 0xffff) + (o->dst >> 16) + (o->dst & 0xffff) + 6 + (uint32_t)tl;
    cr_assert_eq(th_fold(th_sum(acc, t, tl)), 0, "bad TCP checksum");
    o->sport = rd16(t);
    o->dport = rd16(t + 2);
    o->seq = rd32(t + 4);
    o->ack = rd32(t + 8);
    size_t hl = (size_t)(t[12] >> 4) * 4;
    cr_assert(hl >= 20 && hl <= tl);
    o->flags = t[13];
    o->wnd = rd16(t + 14);
    o->len = (uint32_t)(tl - hl);
    memcpy(o->data, t + hl, o->len);
    o->mss = 0;
    o->ws = -1;
    o->sack_perm = false;
    o->nsack = 0;
    o->ts = false;
    o->tsval = o->tsecr = 0;
    o->optlen = hl - 20;
    for (size_t i = 20; i < hl;) {
        if (t[i] == 0) break;
        if (t[i] == 1) {
            i++;
            continue;
        }
        cr_assert(i + 1 < hl && t[i + 1] >= 2 && i + t[i + 1] <= hl, "bad option sent");
        if (t[i] == 2 && t[i + 1] == 4) o->mss = rd16(t + i + 2);
        if (t[i] == 3 && t[i + 1] == 3) o->ws = t[i + 2];
        if (t[i] == 4 && t[i + 1] == 2) o->sack_perm = true;
        if (t[i] == 8) {
            cr_assert(t[i + 1] == 10, "bad TSopt sent");
            o->ts = true;
            o->tsval = rd32(t + i + 2);
            o->tsecr = rd32(t + i + 6);
        }
        if (t[i] == 5) {
            cr_assert(t[i + 1] >= 10 && (t[i + 1] - 2) % 8 == 0 && t[i + 1] <= 34,
                      "bad SACK option sent");
            o->nsack = (t[i + 1] - 2) / 8;
            for (int b = 0; b < o->nsack; b++) {
                o->sack[b][0] = rd32(t + i + 2 + 8 * b);
                o->sack[b][1] = rd32(t + i + 6 + 8 * b);
            }
        }
        i += t[i + 1];
    }
}

bool th_pop(struct th_engine *e, struct th_out *o)
{
    if (e->pkt_head == e->npkt) return false;
    th_parse(e->pkt[e->pkt_head], e->pkt_len[e->pkt_head], o);
    free(e->pkt[e->pkt_head]);
    e->pkt_head++;
    if (e->pkt_head == e->npkt) e->pkt_head = e->npkt = 0;
    return true;
}

bool th_has_line(const struct th_engine *e, const char *line)
{
    for (size_t i = 0; i < e->nlines; i++)
        if (strcmp(e->lines[i], line) == 0) return true;
    return false;
}

size_t th_count_lines(const struct th_engine *e, const char *prefix)
{
    size_t n = 0, pl = strlen(prefix);
    for (size_t i = 0; i < e->nlines; i++)
        if (strncmp(e->lines[i], prefix, pl) == 0) n++;
    return n;
}

size_t th_count_events(const struct th_engine *e, int handle, unsigned mask)
{
    size_t n = 0;
    for (size_t i = 0; i < e->nev; i++)
        if (e->ev[i].handle == handle && (e->ev[i].events & mask)) n++;
    return n;
}

/* ---- one connection to the crafted peer ---- */

void tcp_test_set_isn(struct stack *st, uint32_t isn); /* tcp.h's: the engine's internals */

static void th_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int th_establish(struct th_engine *e, const struct th_open *o)
{
    tcp_test_set_isn(e->st, o->iss);
    int h = stack_tcp_connect(e->st, TH_PEER, TH_PPORT, TH_LPORT, e->now);
    cr_assert_gt(h, 0);
    struct th_out out;
    cr_assert(th_pop(e, &out) && out.flags == THF_SYN, "our SYN");
    cr_assert_eq(out.seq, o->iss);
    e->now = o->synack_at;
    uint8_t opt[20];
    size_t n = 0;
    uint16_t mss = o->mss ? o->mss : 1460;
    opt[n++] = 2;
    opt[n++] = 4;
    opt[n++] = (uint8_t)(mss >> 8);
    opt[n++] = (uint8_t)mss;
    if (o->sack) {
        opt[n++] = 1;
        opt[n++] = 1;
        opt[n++] = 4;
        opt[n++] = 2;
    }
    if (o->ts) {
        cr_assert(out.ts, "our SYN offers timestamps");
        opt[n++] = 1;
        opt[n++] = 1;
        opt[n++] = 8;
        opt[n++] = 10;
        th_put32(opt + n, o->tsval);
        th_put32(opt + n + 4, out.tsval);
        n += 8;
    }
    struct th_spec s = {.sport = TH_PPORT,
                        .dport = TH_LPORT,
                        .seq = o->pisn,
                        .ack = o->iss + 1,
                        .flags = THF_SYN | THF_ACK,
                        .wnd = o->wnd ? o->wnd : 65535,
                        .opt = opt,
                        .optlen = n};
    th_seg(e, &s);
    cr_assert(th_pop(e, &out) && out.flags == THF_ACK, "our ACK of the SYN-ACK");
    cr_assert_eq(out.ack, o->pisn + 1);
    cr_assert_eq(out.ts, o->ts);
    e->peer_nxt = o->pisn + 1;
    return h;
}

void th_peer_send(struct th_engine *e, uint64_t now, const struct th_ack *a)
{
    uint8_t opt[40];
    size_t n = 0;
    if (a->ts) {
        opt[n++] = 1;
        opt[n++] = 1;
        opt[n++] = 8;
        opt[n++] = 10;
        th_put32(opt + n, a->tsval);
        th_put32(opt + n + 4, a->tsecr);
        n += 8;
    }
    if (a->nsack) {
        cr_assert(n + 4 + 8 * (size_t)a->nsack <= sizeof opt, "too many SACK blocks");
        opt[n++] = 1;
        opt[n++] = 1;
        opt[n++] = 5;
        opt[n++] = (uint8_t)(2 + 8 * a->nsack);
        for (int i = 0; i < a->nsack; i++, n += 8) {
            th_put32(opt + n, a->sack[2 * i]);
            th_put32(opt + n + 4, a->sack[2 * i + 1]);
        }
    }
    e->now = now;
    struct th_spec s = {.sport = TH_PPORT,
                        .dport = TH_LPORT,
                        .seq = e->peer_nxt,
                        .ack = a->ack,
                        .flags = THF_ACK,
                        .wnd = a->wnd == TH_ZERO_WND ? 0
                               : a->wnd              ? (uint16_t)a->wnd
                                                     : 65535,
                        .opt = n ? opt : NULL,
                        .optlen = n};
    th_seg(e, &s);
}

void th_peer_ack(struct th_engine *e, uint64_t now, uint32_t ack)
{
    struct th_ack a = {.ack = ack};
    th_peer_send(e, now, &a);
}

void th_expect_data(struct th_engine *e, struct th_out *o, uint32_t seq, uint32_t len,
                    const uint8_t *base, uint32_t base_seq)
{
    cr_assert(th_pop(e, o), "nothing sent, expected seq %u (offset %u) len %u", seq, seq - base_seq,
              len);
    cr_assert_eq(o->seq, seq, "seq %u (offset %u), want %u (offset %u)", o->seq, o->seq - base_seq,
                 seq, seq - base_seq);
    cr_assert_eq(o->len, len, "len %u, want %u", o->len, len);
    cr_assert(memcmp(o->data, base + (seq - base_seq), len) == 0, "payload differs");
}

void th_expect_none(struct th_engine *e)
{
    size_t n = th_pending(e);
    struct th_out o;
    if (n && th_pop(e, &o))
        cr_assert_fail("%zu unexpected segments, the first flags %#x seq %u len %u", n, o.flags,
                       o.seq, o.len);
}

struct stack_conn_info th_info(struct th_engine *e, int h)
{
    struct stack_conn_info ci;
    cr_assert_eq(stack_tcp_info(e->st, h, &ci), 0);
    return ci;
}

/* ---- bulk data for transfer tests ---- */

void th_pump_send(struct th_engine *e, int h, uint32_t seed, uint64_t total, uint64_t *sent,
                  uint64_t now)
{
    static uint8_t buf[16384];
    while (*sent < total) {
        size_t n = total - *sent < sizeof buf ? (size_t)(total - *sent) : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = th_pattern(seed, *sent + i);
        long r = stack_tcp_send(e->st, h, buf, n, now);
        if (r <= 0) break;
        *sent += (uint64_t)r;
    }
}

bool th_pump_recv(struct th_engine *e, int h, uint32_t seed, uint64_t *rcvd, uint64_t now)
{
    static uint8_t buf[16384];
    for (;;) {
        long r = stack_tcp_recv(e->st, h, buf, sizeof buf, now);
        if (r == 0) return true;
        if (r < 0) return false;
        for (long i = 0; i < r; i++)
            cr_assert_eq(buf[i], th_pattern(seed, *rcvd + (uint64_t)i), "byte %llu differs",
                         (unsigned long long)(*rcvd + (uint64_t)i));
        *rcvd += (uint64_t)r;
    }
}

/* ---- the simulated link ---- */

struct th_flight {
    uint64_t at, order;
    int to;
    uint8_t *pkt;
    size_t len;
};

struct th_link {
    struct th_engine *e[2];
    struct th_link_cfg cfg;
    uint64_t now, rng, order;
    struct th_flight *q; /* min-heap by (at, order) */
    size_t nq, capq;
    uint64_t sent, dropped, qdrops, last_send;
    uint64_t busy_us[2]; /* per sender: when its serialiser is free, microseconds */
};

static uint64_t th_rand(struct th_link *l)
{
    /* splitmix64 */
    uint64_t z = (l->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static bool fl_less(const struct th_flight *a, const struct th_flight *b)
{
    return a->at < b->at || (a->at == b->at && a->order < b->order);
}

static void th_q_push(struct th_link *l, struct th_flight f)
{
    if (l->nq == l->capq) {
        l->capq = l->capq ? l->capq * 2 : 256;
        l->q = realloc(l->q, l->capq * sizeof *l->q);
        cr_assert(l->q);
    }
    size_t i = l->nq++;
    l->q[i] = f;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!fl_less(&l->q[i], &l->q[p])) break;
        struct th_flight t = l->q[i];
        l->q[i] = l->q[p];
        l->q[p] = t;
        i = p;
    }
}

static struct th_flight th_q_pop(struct th_link *l)
{
    struct th_flight top = l->q[0];
    l->q[0] = l->q[--l->nq];
    size_t i = 0;
    for (;;) {
        size_t a = 2 * i + 1, b = a + 1, m = i;
        if (a < l->nq && fl_less(&l->q[a], &l->q[m])) m = a;
        if (b < l->nq && fl_less(&l->q[b], &l->q[m])) m = b;
        if (m == i) break;
        struct th_flight t = l->q[i];
        l->q[i] = l->q[m];
        l->q[m] = t;
        i = m;
    }
    return top;
}

static uint32_t th_delay(const struct th_link *l, int from)
{
    if (!l->cfg.rtt_ms) return l->cfg.delay_ms;
    return from == 0 ? (l->cfg.rtt_ms + 1) / 2 : l->cfg.rtt_ms / 2;
}

/* When a packet of len bytes handed over now leaves the sender's serialiser (ms), or
 * UINT64_MAX when the queue in front of it is full. */
static uint64_t th_serialise(struct th_link *l, int from, size_t len)
{
    if (!l->cfg.rate_bpms) return l->now;
    uint64_t now_us = l->now * 1000, *busy = &l->busy_us[from];
    if (*busy < now_us) *busy = now_us;
    uint64_t backlog = (*busy - now_us) * l->cfg.rate_bpms / 1000;
    if (l->cfg.queue_bytes && backlog + len > l->cfg.queue_bytes) return UINT64_MAX;
    *busy += ((uint64_t)len * 1000 + l->cfg.rate_bpms - 1) / l->cfg.rate_bpms;
    return (*busy + 999) / 1000;
}

static void th_link_enqueue(struct th_link *l, int from, const uint8_t *pkt, size_t len)
{
    l->sent++;
    l->last_send = l->now;
    if (th_rand(l) % 100 < l->cfg.loss_pct) {
        l->dropped++;
        return;
    }
    int copies = th_rand(l) % 100 < l->cfg.dup_pct ? 2 : 1;
    for (int c = 0; c < copies; c++) {
        uint64_t out = th_serialise(l, from, len);
        if (out == UINT64_MAX) {
            l->dropped++;
            l->qdrops++;
            continue;
        }
        struct th_flight f;
        f.at = out + th_delay(l, from);
        if (l->cfg.jitter_ms && th_rand(l) % 100 < l->cfg.reorder_pct)
            f.at += 1 + th_rand(l) % l->cfg.jitter_ms;
        f.order = l->order++;
        f.to = !from;
        f.pkt = malloc(len);
        cr_assert(f.pkt);
        memcpy(f.pkt, pkt, len);
        f.len = len;
        th_q_push(l, f);
    }
}

struct th_link *th_link_new(struct th_engine *a, struct th_engine *b, const struct th_link_cfg *cfg)
{
    struct th_link *l = calloc(1, sizeof *l);
    cr_assert(l);
    l->e[0] = a;
    l->e[1] = b;
    l->cfg = *cfg;
    l->rng = cfg->seed;
    a->link = l;
    a->side = 0;
    b->link = l;
    b->side = 1;
    l->now = a->now > b->now ? a->now : b->now;
    a->now = b->now = l->now;
    return l;
}

void th_link_free(struct th_link *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->nq; i++)
        free(l->q[i].pkt);
    free(l->q);
    l->e[0]->link = l->e[1]->link = NULL;
    free(l);
}

uint64_t th_link_now(const struct th_link *l)
{
    return l->now;
}
uint64_t th_link_sent(const struct th_link *l)
{
    return l->sent;
}
uint64_t th_link_dropped(const struct th_link *l)
{
    return l->dropped;
}
uint64_t th_link_queue_drops(const struct th_link *l)
{
    return l->qdrops;
}
uint64_t th_link_last_send(const struct th_link *l)
{
    return l->last_send;
}
uint32_t th_link_max_oneway(const struct th_link *l)
{
    uint32_t d = th_delay(l, 0) > th_delay(l, 1) ? th_delay(l, 0) : th_delay(l, 1);
    return d + (l->cfg.reorder_pct ? l->cfg.jitter_ms : 0);
}

bool th_link_step(struct th_link *l, uint64_t until)
{
    uint64_t next = UINT64_MAX;
    if (l->nq) next = l->q[0].at;
    for (int i = 0; i < 2; i++) {
        uint64_t d = stack_next_deadline(l->e[i]->st);
        if (d < next) next = d;
    }
    if (next == UINT64_MAX || next > until) return false;
    if (next > l->now) l->now = next;
    l->e[0]->now = l->e[1]->now = l->now;
    while (l->nq && l->q[0].at <= l->now) {
        struct th_flight f = th_q_pop(l);
        stack_input(l->e[f.to]->st, f.pkt, f.len, l->now);
        free(f.pkt);
    }
    for (int i = 0; i < 2; i++)
        if (stack_next_deadline(l->e[i]->st) <= l->now) stack_poll(l->e[i]->st, l->now);
    return true;
}
