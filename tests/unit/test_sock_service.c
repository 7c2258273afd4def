/* The daemon's socket service (daemon/sock_service.c) over a real stack core, in virtual
 * time, with no Unix socket: frames go in through svc_frame, pushed frames are read from
 * the session's output buffer, the peer is crafted segments (tcp_harness.h).
 *
 * stack_tcp_send and stack_tcp_send_space are wrapped at link time (tests/CMakeLists.txt):
 * the first to inject failures the core cannot be made to produce on demand, the second
 * to count how often the service polls for send space. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "credit.h"
#include "daemon.h"
#include "pkt_harness.h"
#include "udp.h"
#include "sock_service.h"
#include "tcp_harness.h"
#include "control.h"
#include "uds_transport.h"

/* ---- wrapped stack calls ---- */

long __real_stack_tcp_send(struct stack *st, int h, const void *buf, size_t len, stack_time_t now);
size_t __real_stack_tcp_send_space(struct stack *st, int h);
long __wrap_stack_tcp_send(struct stack *st, int h, const void *buf, size_t len, stack_time_t now);
size_t __wrap_stack_tcp_send_space(struct stack *st, int h);

static long inject_err;    /* next send fails with this (negative errno), 0 = none */
static size_t inject_take; /* next send takes at most this many bytes, 0 = no cap */
static unsigned long space_calls;

long __wrap_stack_tcp_send(struct stack *st, int h, const void *buf, size_t len, stack_time_t now)
{
    if (inject_err) {
        long e = inject_err;
        inject_err = 0;
        return e;
    }
    if (inject_take && len > inject_take) {
        len = inject_take;
        inject_take = 0;
    }
    return __real_stack_tcp_send(st, h, buf, len, now);
}

size_t __wrap_stack_tcp_send_space(struct stack *st, int h)
{
    space_calls++;
    return __real_stack_tcp_send_space(st, h);
}

/* ---- the daemon under test ---- */

static stack_time_t vnow = 1000;
stack_time_t daemon_now(void)
{
    return vnow;
}

static struct daemon D;
static struct server SRV;
static struct th_engine *E; /* the peer's view: E->st is D.st, E's packet queue its output */
static struct session *SS;

static void cap_output(void *ctx, const uint8_t *pkt, size_t len)
{
    (void)ctx;
    if (E->npkt == E->pkt_cap) {
        size_t ncap = E->pkt_cap ? E->pkt_cap * 2 : 64;
        E->pkt = realloc(E->pkt, ncap * sizeof *E->pkt);
        E->pkt_len = realloc(E->pkt_len, ncap * sizeof *E->pkt_len);
        cr_assert(E->pkt && E->pkt_len);
        E->pkt_cap = ncap;
    }
    uint8_t *c = malloc(len ? len : 1);
    cr_assert(c);
    memcpy(c, pkt, len);
    E->pkt[E->npkt] = c;
    E->pkt_len[E->npkt++] = len;
}

static void on_event(void *ctx, int h, unsigned ev)
{
    server_on_stack_event(ctx, h, ev);
}

static void start(uint32_t snd_buf)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    cfg.snd_buf = snd_buf;
    cfg.output = cap_output;
    cfg.event = on_event;
    cfg.ctx = &D;
    E = calloc(1, sizeof *E);
    cr_assert(E);
    E->now = vnow;
    D.st = E->st = stack_new(&cfg);
    cr_assert(D.st);
    D.opt.addr = TH_US;
    SRV.d = &D;
    cr_assert_eq(svc_init(&SRV.svc, &D), 0);
    D.srv = &SRV;
    SS = calloc(1, sizeof *SS);
    cr_assert(SS);
    SS->srv = &SRV;
    SS->svc = &SRV.svc;
    SS->rights = ACCESS_BIND_LOW | ACCESS_CAPTURE | ACCESS_SEE_ALL; /* a root client */
    SS->fd = -1;
    SRV.sessions = SS;
    SRV.nsessions = 1;
}

static void stop(void)
{
    svc_session_closed(SS);
    svc_run(&SRV.svc);
    free(SS->out);
    free(SS);
    svc_fini(&SRV.svc);
    D.srv = NULL;
    th_free(E); /* frees the stack too */
    inject_err = 0;
    inject_take = 0;
}

/* A client frame, then the service's work, as the transport does per read. */
static void frame(struct proto_msg m)
{
    const char *why = NULL;
    cr_assert_eq(svc_frame(SS, &m, &why), 0, "client dropped: %s", why ? why : "?");
    svc_run(&SRV.svc);
}

/* The next frame the daemon pushed to the client, false when none. */
static bool pushed(struct proto_msg *m)
{
    if (SS->out_off == SS->out_len) return false;
    size_t fl;
    cr_assert_eq(proto_decode(SS->out + SS->out_off, SS->out_len - SS->out_off, m, &fl), PROTO_OK);
    SS->out_off += fl;
    return true;
}

static void no_more_pushed(void)
{
    struct proto_msg m;
    cr_assert_not(pushed(&m), "unexpected frame type 0x%02x", m.h.type);
}

/* The same, letting send-credit updates pass: credit grows with the send ring's use. */
static void nothing_but_credit_pushed(void)
{
    struct proto_msg m;
    while (pushed(&m))
        cr_assert_eq(m.h.type, PT_SEND_CREDIT, "unexpected frame type 0x%02x", m.h.type);
}

static uint32_t next_req = 1;

static uint32_t request(struct proto_msg m)
{
    m.h.req_id = next_req++;
    frame(m);
    struct proto_msg r;
    cr_assert(pushed(&r));
    cr_assert_eq(r.h.type, PT_REPLY);
    cr_assert_eq(r.h.req_id, m.h.req_id);
    cr_assert_eq(r.u.reply.status, PE_OK);
    return r.h.sock_id;
}

/* A listener on port 80 with one accept credit. */
static uint32_t listen80(void)
{
    struct proto_msg m = {.h = {.type = PT_SOCKET}};
    m.u.socket.kind = PROTO_SOCK_STREAM;
    uint32_t id = request(m);
    m = (struct proto_msg){.h = {.type = PT_BIND, .sock_id = id}};
    m.u.addr.port = 80;
    request(m);
    m = (struct proto_msg){.h = {.type = PT_LISTEN, .sock_id = id}};
    m.u.listen.backlog = 16;
    request(m);
    return id;
}

struct conn {
    uint32_t id;        /* the client's socket id */
    uint16_t sport;     /* the peer's port */
    uint32_t iss, irs;  /* our ISS, the peer's ISS */
    uint32_t send_cred; /* from EV_ACCEPTED */
};

static const uint8_t MSS1460[4] = {2, 4, 0x05, 0xb4};

/* The peer opens a connection advertising wnd; the client accepts it and gives the
 * listener its accept credit back. */
static struct conn peer_open(uint32_t lid, uint16_t sport, uint16_t wnd)
{
    struct conn c = {.sport = sport, .irs = 7000u * sport};
    th_seg(E, &(struct th_spec){.sport = sport,
                                .dport = 80,
                                .seq = c.irs,
                                .flags = THF_SYN,
                                .wnd = 65535,
                                .opt = MSS1460,
                                .optlen = 4});
    struct th_out o;
    cr_assert(th_pop(E, &o));
    cr_assert_eq(o.flags, THF_SYN | THF_ACK);
    c.iss = o.seq;
    th_seg(E, &(struct th_spec){.sport = sport,
                                .dport = 80,
                                .seq = c.irs + 1,
                                .ack = c.iss + 1,
                                .flags = THF_ACK,
                                .wnd = wnd});
    th_drop_out(E);
    svc_run(&SRV.svc);
    struct proto_msg m;
    cr_assert(pushed(&m));
    cr_assert_eq(m.h.type, PT_EV_ACCEPTED);
    cr_assert_eq(m.h.sock_id, lid);
    cr_assert_eq(m.u.accepted.rport, sport);
    c.id = m.u.accepted.new_id;
    c.send_cred = m.u.accepted.send_credit;
    no_more_pushed();
    frame((struct proto_msg){.h = {.type = PT_CREDIT, .sock_id = lid}, .u.credit.n = 1});
    return c;
}

static void client_data(uint32_t id, const uint8_t *p, size_t n)
{
    frame((struct proto_msg){.h = {.type = PT_DATA, .sock_id = id}, .u.data = {p, n}});
}

static uint8_t pattern(size_t i)
{
    return th_pattern(42, i);
}

/* ---- item 3: a wake-up costs O(1), whatever the number of stalled connections ---- */

#define NSTALLED 10000

Test(sock_service, stalled_connections_cost_nothing_per_event, .timeout = 120)
{
    /* 4 KiB send rings: 10,000 connections whose peer window is zero and whose client
     * used all its send credit cost 40 MB here instead of 2.5 GB at the default size */
    start(4096);
    uint32_t lid = listen80();
    static struct conn c[NSTALLED];
    uint8_t buf[4096];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = pattern(i);
    for (int i = 0; i < NSTALLED; i++) {
        c[i] = peer_open(lid, (uint16_t)(10000 + i), 0);
        cr_assert_eq(c[i].send_cred, 4096);
        client_data(c[i].id, buf, sizeof buf); /* all of it: the ring is full */
        no_more_pushed();
    }
    th_drop_out(E);

    /* nothing happens: nothing is visited, no send space is polled */
    unsigned long v0 = SRV.svc.visits, s0 = space_calls;
    for (int i = 0; i < 100; i++)
        svc_run(&SRV.svc);
    cr_assert_eq(SRV.svc.visits - v0, 0);
    cr_assert_eq(space_calls - s0, 0);

    /* 10 bytes arrive on one connection: that one socket is visited, once */
    struct conn *k = &c[4321];
    th_seg(E, &(struct th_spec){.sport = k->sport,
                                .dport = 80,
                                .seq = k->irs + 1,
                                .ack = k->iss + 1,
                                .flags = THF_ACK | THF_PSH,
                                .wnd = 0,
                                .data = "0123456789",
                                .len = 10});
    v0 = SRV.svc.visits, s0 = space_calls;
    svc_run(&SRV.svc);
    cr_assert_eq(SRV.svc.visits - v0, 1);
    cr_assert_eq(space_calls - s0, 1);
    struct proto_msg m;
    cr_assert(pushed(&m));
    cr_assert_eq(m.h.type, PT_DATA);
    cr_assert_eq(m.h.sock_id, k->id);
    cr_assert_eq(m.u.data.len, 10);
    cr_assert_eq(memcmp(m.u.data.ptr, "0123456789", 10), 0);
    no_more_pushed();
    th_drop_out(E);

    /* the peer opens its window: the data leaves, but no send space is freed yet, so the
     * service is not woken */
    th_seg(E, &(struct th_spec){.sport = k->sport,
                                .dport = 80,
                                .seq = k->irs + 11,
                                .ack = k->iss + 1,
                                .flags = THF_ACK,
                                .wnd = 8192});
    v0 = SRV.svc.visits, s0 = space_calls;
    svc_run(&SRV.svc);
    cr_assert_eq(SRV.svc.visits - v0, 0);
    cr_assert_eq(space_calls - s0, 0);
    uint32_t sent = 0;
    struct th_out o;
    while (th_pop(E, &o)) {
        cr_assert_eq(o.seq, k->iss + 1 + sent);
        for (uint32_t i = 0; i < o.len; i++)
            cr_assert_eq(o.data[i], pattern(sent + i));
        sent += o.len;
    }
    cr_assert_eq(sent, 4096);

    /* the peer acknowledges all of it: send space grows, the one socket is woken once and
     * its client gets the whole ring back as credit */
    th_seg(E, &(struct th_spec){.sport = k->sport,
                                .dport = 80,
                                .seq = k->irs + 11,
                                .ack = k->iss + 1 + 4096,
                                .flags = THF_ACK,
                                .wnd = 8192});
    v0 = SRV.svc.visits, s0 = space_calls;
    svc_run(&SRV.svc);
    cr_assert_eq(SRV.svc.visits - v0, 1);
    cr_assert_eq(space_calls - s0, 1);
    cr_assert(pushed(&m));
    cr_assert_eq(m.h.type, PT_SEND_CREDIT);
    cr_assert_eq(m.h.sock_id, k->id);
    cr_assert_eq(m.u.credit.n, 4096);
    no_more_pushed();
    stop();
}

/* ---- item 10: a send the stack refuses never leaves a hole in the stream ---- */

static struct conn one_conn(uint32_t snd_buf)
{
    start(snd_buf);
    uint32_t lid = listen80();
    return peer_open(lid, 5555, 65535);
}

/* The peer's next segment must carry exactly bytes [from, from+n) of the pattern. */
static void expect_bytes(const struct conn *c, uint32_t from, uint32_t n)
{
    uint32_t got = 0;
    struct th_out o;
    while (got < n && th_pop(E, &o)) {
        cr_assert_eq(o.seq, c->iss + 1 + from + got);
        for (uint32_t i = 0; i < o.len; i++)
            cr_assert_eq(o.data[i], pattern(from + got + i), "byte %u", from + got + i);
        got += o.len;
    }
    cr_assert_eq(got, n);
}

static void peer_ack(const struct conn *c, uint32_t upto)
{
    th_seg(E, &(struct th_spec){.sport = c->sport,
                                .dport = 80,
                                .seq = c->irs + 1,
                                .ack = c->iss + 1 + upto,
                                .flags = THF_ACK,
                                .wnd = 65535});
    svc_run(&SRV.svc);
}

Test(sock_service, send_enomem_resets_and_tells_the_client)
{
    struct conn c = one_conn(65536);
    uint8_t buf[1000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = pattern(i);
    client_data(c.id, buf, 1000);
    expect_bytes(&c, 0, 1000);
    inject_err = -ENOMEM;
    client_data(c.id, buf, 1000);
    /* the client learns it at once ... */
    struct proto_msg m;
    cr_assert(pushed(&m));
    cr_assert_eq(m.h.type, PT_EV_ERROR);
    cr_assert_eq(m.h.sock_id, c.id);
    cr_assert_eq(m.u.error.err, (uint32_t)proto_err_from_errno(ENOMEM));
    no_more_pushed();
    /* ... and the peer gets a reset after byte 1000, never byte 2000 */
    struct th_out o;
    cr_assert(th_pop(E, &o));
    cr_assert(o.flags & THF_RST);
    cr_assert_eq(o.seq, c.iss + 1 + 1000);
    cr_assert_not(th_pop(E, &o));
    /* data the client had in flight before it saw the error is dropped quietly */
    client_data(c.id, buf, 10);
    no_more_pushed();
    cr_assert_not(th_pop(E, &o));
    stop();
}

Test(sock_service, send_refused_is_kept_and_sent_in_order)
{
    struct conn c = one_conn(65536);
    static uint8_t buf[3000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = pattern(i);
    client_data(c.id, buf, 1000);
    expect_bytes(&c, 0, 1000);
    /* the memory bound refuses the next bytes (EAGAIN), then takes only 300 of the rest */
    inject_err = -EAGAIN;
    client_data(c.id, buf + 1000, 1000);
    client_data(c.id, buf + 2000, 1000);
    struct th_out o;
    cr_assert_not(th_pop(E, &o));
    no_more_pushed();
    /* an ACK frees space: what was kept goes out, in order, no byte lost */
    inject_take = 300;
    peer_ack(&c, 1000);
    expect_bytes(&c, 1000, 300);
    cr_assert_not(th_pop(E, &o));
    peer_ack(&c, 1300);
    expect_bytes(&c, 1300, 1700);
    nothing_but_credit_pushed();
    stop();
}

Test(sock_service, close_with_refused_bytes_sends_them_before_the_fin)
{
    struct conn c = one_conn(65536);
    static uint8_t buf[2000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = pattern(i);
    client_data(c.id, buf, 1000);
    expect_bytes(&c, 0, 1000);
    inject_err = -EAGAIN;
    client_data(c.id, buf + 1000, 1000);
    frame((struct proto_msg){.h = {.type = PT_CLOSE, .sock_id = c.id, .req_id = 99}});
    struct proto_msg m;
    cr_assert(pushed(&m));
    cr_assert_eq(m.h.type, PT_REPLY);
    cr_assert_eq(m.u.reply.status, PE_OK);
    struct th_out o;
    cr_assert_not(th_pop(E, &o));
    peer_ack(&c, 1000);
    uint32_t got = 0;
    bool fin = false;
    while (th_pop(E, &o)) {
        cr_assert_eq(o.seq, c.iss + 1 + 1000 + got);
        for (uint32_t i = 0; i < o.len; i++)
            cr_assert_eq(o.data[i], pattern(1000 + got + i));
        got += o.len;
        fin = fin || (o.flags & THF_FIN);
    }
    cr_assert_eq(got, 1000);
    cr_assert(fin);
    stop();
}

Test(sock_service, client_exit_with_refused_bytes_resets_instead_of_fin)
{
    struct conn c = one_conn(65536);
    static uint8_t buf[2000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = pattern(i);
    client_data(c.id, buf, 1000);
    expect_bytes(&c, 0, 1000);
    inject_err = -EAGAIN;
    client_data(c.id, buf + 1000, 1000);
    inject_err = -EAGAIN; /* and the last chance at exit fails too */
    svc_session_closed(SS);
    struct th_out o;
    cr_assert(th_pop(E, &o));
    cr_assert(o.flags & THF_RST);
    cr_assert_not(o.flags & THF_FIN);
    cr_assert_eq(o.seq, c.iss + 1 + 1000);
    cr_assert_not(th_pop(E, &o));
    stop();
}

/* ---- item 6: datagram credit is exact ---- */

static uint32_t udp_socket(uint16_t port)
{
    struct proto_msg m = {.h = {.type = PT_SOCKET}};
    m.u.socket.kind = PROTO_SOCK_DGRAM;
    uint32_t id = request(m);
    m = (struct proto_msg){.h = {.type = PT_BIND, .sock_id = id}};
    m.u.addr.port = port;
    request(m);
    return id;
}

static void peer_datagram(uint16_t dport, const uint8_t *data, size_t len)
{
    static uint8_t pkt[1600];
    size_t n = ph_udp_pkt(pkt, TH_PEER, TH_US, 40000, dport, data, len);
    stack_input(D.st, pkt, n, vnow);
}

/* Datagrams larger than the credit left, against a 4 KiB window (SO_RCVBUF 4096), read
 * by a client that returns credit exactly as the library does. The daemon used to clamp
 * its credit to 0 after an oversized push while the library returned the full length:
 * the credit crept up by the overshoot every time (3.65 MB for a 4 KiB window) until the
 * client was dropped. Now what the client holds (pushed, credit not yet returned) stays
 * within the window plus one datagram's cost, round after round, and the client is never dropped
 * (frame() asserts svc_frame accepted every credit). */
Test(sock_service, datagram_credit_stays_bounded_by_the_window, .timeout = 120)
{
    start(65536);
    uint32_t id = udp_socket(5000);
    struct credit_receiver r;
    proto_credit_receiver_init(&r, PROTO_DEFAULT_RCV_WINDOW);
    cr_assert_eq(proto_credit_resize(&r, 4096), 0); /* minitcp_setsockopt(SO_RCVBUF, 4096) */
    static uint8_t data[1472];
    const uint32_t maxcost = credit_dgram_cost(sizeof data);
    uint64_t sent = 0, got = 0, creditframes = 0;
    bool warm = false;
    for (int round = 0; round < 5000; round++) {
        /* eight datagrams of 1000..1471 bytes (more than the window), an empty one now
         * and then */
        for (int k = 0; k < 8; k++) {
            size_t len = (round + k) % 7 == 0 ? 0 : 1000 + (size_t)(round * 37 + k * 101) % 472;
            memset(data, (int)(round + k), len);
            peer_datagram(5000, data, len);
            sent++;
        }
        svc_run(&SRV.svc);
        struct proto_msg m;
        uint32_t read = 0;
        while (pushed(&m)) {
            cr_assert_eq(m.h.type, PT_DGRAM);
            cr_assert_eq(m.h.sock_id, id);
            cr_assert_eq(m.u.dgram.port, 40000);
            uint32_t cost = credit_dgram_cost(m.u.dgram.len);
            read += cost;
            got++;
            /* pushed and not yet returned: this round's, and what was read but is owed */
            if (warm)
                cr_assert_lt(read + r.owed, 4096 + maxcost, "round %d: client holds %lld", round,
                             (long long)(read + r.owed));
        }
        /* the application reads them all */
        uint32_t back = proto_credit_consume(&r, read);
        if (back) {
            frame((struct proto_msg){.h = {.type = PT_CREDIT, .sock_id = id}, .u.credit.n = back});
            creditframes++;
        }
        /* the 256 KiB first granted, less the withheld part, has been used up */
        if (!warm && r.owed >= 0 && got > 0) warm = true;
    }
    cr_assert(warm);
    /* every datagram was delivered, is still queued in the core, or was dropped and counted */
    uint64_t dropped = stack_stats(D.st)->udp_drop_rcvbuf;
    cr_assert_gt(got, 1000);
    cr_assert_gt(creditframes, 1000);
    cr_assert_leq(got + dropped, sent);
    uint64_t queued = sent - got - dropped;
    cr_assert_leq(queued * CREDIT_DGRAM_OVERHEAD, UDP_RCVBUF_MAX);
    stop();
}

/* Empty datagrams to a client that never reads: the daemon pushes what the default
 * window's credit allows (each costs CREDIT_DGRAM_OVERHEAD), the core queues what its
 * receive buffer allows, and the rest is dropped and counted as drop_rcvbuf. */
Test(sock_service, empty_datagrams_to_a_non_reading_client_are_capped)
{
    start(65536);
    uint32_t id = udp_socket(5000);
    for (int i = 0; i < 20000; i++) {
        peer_datagram(5000, NULL, 0);
        if (i % 64 == 0) svc_run(&SRV.svc);
    }
    svc_run(&SRV.svc);
    uint64_t frames = 0;
    struct proto_msg m;
    while (pushed(&m)) {
        cr_assert_eq(m.h.type, PT_DGRAM);
        cr_assert_eq(m.h.sock_id, id);
        cr_assert_eq(m.u.dgram.len, 0);
        frames++;
    }
    const uint64_t in_credit = PROTO_DEFAULT_RCV_WINDOW / CREDIT_DGRAM_OVERHEAD;
    const uint64_t in_core = UDP_RCVBUF_MAX / CREDIT_DGRAM_OVERHEAD;
    cr_assert_eq(frames, in_credit);
    cr_assert_eq(stack_stats(D.st)->udp_drop_rcvbuf, 20000 - in_credit - in_core);
    stop();
}

/* ---- item 7: a connection listing is served in bounded steps ---- */

struct seen {
    unsigned char port[65536];
    unsigned n;
};

static void seen_cb(void *arg, const struct stack_conn_info *ci)
{
    struct seen *s = arg;
    s->port[ci->rport ? ci->rport : ci->lport]++;
    s->n++;
}

Test(sock_service, listing_in_steps_lists_everything_once)
{
    start(4096);
    uint32_t lid = listen80();
    enum { NC = 2000 };
    for (int i = 0; i < NC; i++)
        peer_open(lid, (uint16_t)(20000 + i), 8192);
    for (int i = 0; i < 3; i++) { /* UDP sockets are listed by the service */
        struct proto_msg m = {.h = {.type = PT_SOCKET}};
        m.u.socket.kind = PROTO_SOCK_DGRAM;
        uint32_t id = request(m);
        m = (struct proto_msg){.h = {.type = PT_BIND, .sock_id = id}};
        m.u.addr.port = (uint16_t)(5000 + i);
        request(m);
    }
    th_drop_out(E);

    /* the core's cursor, one entry and three buckets at a time, is the whole walk */
    static struct seen all, steps;
    stack_tcp_foreach(D.st, seen_cb, &all);
    cr_assert_eq(all.n, NC + 1);
    struct stack_list_cursor c = {0};
    unsigned calls = 0;
    while (!stack_tcp_list(D.st, &c, 1, 3, seen_cb, &steps))
        calls++;
    cr_assert_gt(calls, NC / 2);
    cr_assert_eq(memcmp(all.port, steps.port, sizeof all.port), 0);

    /* LIST_CONNS through the control module: one step at a time, each step at most a
     * frame or two of output, every record once, PROTO_F_MORE on all frames but the last */
    struct proto_msg q = {.h = {.type = PT_LIST_CONNS, .req_id = 77}};
    cr_assert(control_frame(SS, &q));
    cr_assert_not_null(SS->job);
    static unsigned char got[65536];
    unsigned nrec = 0, nsteps = 0, frames = 0;
    bool last_seen = false;
    for (;;) {
        bool done = control_step(SS);
        nsteps++;
        unsigned f_this = 0;
        struct proto_msg m;
        while (pushed(&m)) {
            cr_assert_eq(m.h.type, PT_CONN_LIST);
            cr_assert_eq(m.h.req_id, 77);
            cr_assert_not(last_seen, "a frame after the last one");
            cr_assert_leq(m.u.data.len, PROTO_MAX_PAYLOAD);
            for (size_t k = 0; k < m.u.data.len; k += PROTO_CONN_REC_LEN) {
                struct proto_conn_rec r;
                proto_conn_rec_decode(m.u.data.ptr + k, &r);
                got[r.rport ? r.rport : r.lport]++;
                nrec++;
            }
            last_seen = !(m.h.flags & PROTO_F_MORE);
            f_this++;
            frames++;
        }
        cr_assert_leq(f_this, 2);
        if (done) break;
        cr_assert_not(last_seen);
    }
    cr_assert(last_seen);
    cr_assert_null(SS->job);
    cr_assert_eq(nrec, NC + 1 + 3);
    const unsigned per_frame = PROTO_MAX_PAYLOAD / PROTO_CONN_REC_LEN;
    cr_assert_eq(frames, (NC + 4 + per_frame - 1) / per_frame);
    cr_assert_gt(nsteps, 1);
    for (int i = 0; i < NC; i++)
        cr_assert_eq(got[20000 + i], 1, "port %d listed %d times", 20000 + i, got[20000 + i]);
    cr_assert_eq(got[80], 1);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(got[5000 + i], 1);
    stop();
}
