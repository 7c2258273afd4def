/* proto/frames: round trips of every frame type and every malformed-input case. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "frames.h"

static uint8_t buf[PROTO_MAX_FRAME + 64];

static void roundtrip(const struct proto_msg *in, struct proto_msg *out)
{
    long n = proto_encode(in, buf, sizeof buf);
    cr_assert_gt(n, 0, "encode %s: %ld", proto_type_name(in->h.type), n);
    size_t fl = 0;
    int rc = proto_decode(buf, (size_t)n, out, &fl);
    cr_assert_eq(rc, PROTO_OK, "decode %s: %s", proto_type_name(in->h.type), proto_result_str(rc));
    cr_assert_eq(fl, (size_t)n);
    cr_assert_eq(out->h.type, in->h.type);
    cr_assert_eq(out->h.flags, in->h.flags);
    cr_assert_eq(out->h.req_id, in->h.req_id);
    cr_assert_eq(out->h.sock_id, in->h.sock_id);
    cr_assert_eq(out->h.len, (uint32_t)n - PROTO_HDR_LEN);
    /* every strict prefix is reported as truncated, never as an error or success */
    for (size_t cut = 0; cut < (size_t)n; cut += (n > 200 ? 97 : 1)) {
        struct proto_msg m;
        size_t f2;
        cr_assert_eq(proto_decode(buf, cut, &m, &f2), PROTO_ETRUNC, "cut %zu", cut);
    }
}

static struct proto_msg msg(uint8_t type, uint32_t req, uint32_t sock)
{
    struct proto_msg m;
    memset(&m, 0, sizeof m);
    m.h.type = type;
    m.h.req_id = req;
    m.h.sock_id = sock;
    return m;
}

Test(proto, header_layout)
{
    proto_encode_hdr(buf, PT_DATA, 0, 0x01020304, 0x0a0b0c0d, 5);
    const uint8_t want[] = {'M', 'T', 1,    0x20, 0,    0,    0, 0, 4, 3,
                            2,   1,   0x0d, 0x0c, 0x0b, 0x0a, 5, 0, 0, 0};
    cr_assert_arr_eq(buf, want, sizeof want);
}

Test(proto, roundtrip_requests)
{
    struct proto_msg in, out;
    in = msg(PT_SOCKET, 1, 0);
    in.u.socket.kind = PROTO_SOCK_DGRAM;
    roundtrip(&in, &out);
    cr_assert_eq(out.u.socket.kind, PROTO_SOCK_DGRAM);

    in = msg(PT_BIND, 2, 7);
    in.u.addr.addr = 0x0a000002;
    in.u.addr.port = 8080;
    roundtrip(&in, &out);
    cr_assert_eq(out.u.addr.addr, 0x0a000002);
    cr_assert_eq(out.u.addr.port, 8080);

    in = msg(PT_CONNECT, 3, 7);
    in.u.addr.addr = 0xc0a80001;
    in.u.addr.port = 65535;
    roundtrip(&in, &out);
    cr_assert_eq(out.u.addr.addr, 0xc0a80001);
    cr_assert_eq(out.u.addr.port, 65535);

    in = msg(PT_LISTEN, 4, 7);
    in.u.listen.backlog = 128;
    roundtrip(&in, &out);
    cr_assert_eq(out.u.listen.backlog, 128);

    in = msg(PT_SHUTDOWN, 5, 7);
    in.u.shutdown.how = PROTO_SHUT_WR;
    roundtrip(&in, &out);
    cr_assert_eq(out.u.shutdown.how, PROTO_SHUT_WR);

    in = msg(PT_CLOSE, 6, 7);
    in.h.flags = PROTO_F_ABORT;
    roundtrip(&in, &out);

    in = msg(PT_SETOPT, 7, 7);
    in.u.setopt.opt = PROTO_OPT_LINGER_ZERO;
    in.u.setopt.value = -5;
    roundtrip(&in, &out);
    cr_assert_eq(out.u.setopt.opt, PROTO_OPT_LINGER_ZERO);
    cr_assert_eq(out.u.setopt.value, -5);

    uint8_t types[] = {PT_INFO, PT_LIST_CONNS, PT_STATS, PT_EV_EOF};
    for (size_t i = 0; i < sizeof types; i++) {
        in = msg(types[i], 9, 0);
        roundtrip(&in, &out);
        cr_assert_eq(out.h.len, 0);
    }
}

/* The keepalive and user-timeout options: the exact bytes of SETOPT (u32 opt, i32 value,
 * little-endian) and the values back, the extremes of each range included. */
Test(proto, setopt_keepalive_and_user_timeout)
{
    static const struct {
        uint32_t opt;
        int32_t value;
    } cases[] = {
        {PROTO_OPT_KEEPALIVE, 1},
        {PROTO_OPT_KEEPIDLE, 32767},
        {PROTO_OPT_KEEPINTVL, 1},
        {PROTO_OPT_KEEPCNT, 127},
        {PROTO_OPT_USER_TIMEOUT, 0x7fffffff},
        {PROTO_OPT_USER_TIMEOUT, -1},
    };
    cr_assert_eq(PROTO_OPT_KEEPALIVE, 4);
    cr_assert_eq(PROTO_OPT_KEEPIDLE, 5);
    cr_assert_eq(PROTO_OPT_KEEPINTVL, 6);
    cr_assert_eq(PROTO_OPT_KEEPCNT, 7);
    cr_assert_eq(PROTO_OPT_USER_TIMEOUT, 8);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct proto_msg in = msg(PT_SETOPT, 11, 3), out;
        in.u.setopt.opt = cases[i].opt;
        in.u.setopt.value = cases[i].value;
        cr_assert_eq(proto_encode(&in, buf, sizeof buf), PROTO_HDR_LEN + 8);
        uint32_t v = (uint32_t)cases[i].value;
        uint8_t want[8] = {
            (uint8_t)cases[i].opt, 0, 0, 0, (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
            (uint8_t)(v >> 24)};
        cr_assert(memcmp(buf + PROTO_HDR_LEN, want, 8) == 0, "case %zu bytes", i);
        roundtrip(&in, &out);
        cr_assert_eq(out.u.setopt.opt, cases[i].opt);
        cr_assert_eq(out.u.setopt.value, cases[i].value);
    }
    /* GETOPT: u32 opt alone */
    struct proto_msg in = msg(PT_GETOPT, 12, 3), out;
    in.u.setopt.opt = PROTO_OPT_USER_TIMEOUT;
    cr_assert_eq(proto_encode(&in, buf, sizeof buf), PROTO_HDR_LEN + 4);
    cr_assert_eq(buf[3], 0x08);
    uint8_t want[4] = {8, 0, 0, 0};
    cr_assert(memcmp(buf + PROTO_HDR_LEN, want, 4) == 0);
    roundtrip(&in, &out);
    cr_assert_eq(out.h.type, PT_GETOPT);
    cr_assert_eq(out.u.setopt.opt, PROTO_OPT_USER_TIMEOUT);
    cr_assert_eq(proto_type_dir(PT_GETOPT), PROTO_DIR_C2D);
}

Test(proto, roundtrip_data_and_credit)
{
    static uint8_t payload[PROTO_MAX_PAYLOAD];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7);
    struct proto_msg in = msg(PT_DATA, 0, 42), out;
    size_t sizes[] = {0, 1, 1000, PROTO_MAX_PAYLOAD};
    for (size_t i = 0; i < 4; i++) {
        in.u.data.ptr = payload;
        in.u.data.len = sizes[i];
        roundtrip(&in, &out);
        cr_assert_eq(out.u.data.len, sizes[i]);
        cr_assert_eq(out.u.data.ptr, buf + PROTO_HDR_LEN, "a view, not a copy");
        if (sizes[i]) cr_assert_arr_eq(out.u.data.ptr, payload, sizes[i]);
    }
    in.u.data.len = PROTO_MAX_PAYLOAD + 1;
    cr_assert_eq(proto_encode(&in, buf, sizeof buf), PROTO_EPAYLOAD);

    in = msg(PT_DGRAM, 3, 42);
    in.u.dgram.addr = 0x0a000001;
    in.u.dgram.port = 53;
    in.u.dgram.ptr = payload;
    in.u.dgram.len = 512;
    roundtrip(&in, &out);
    cr_assert_eq(out.u.dgram.addr, 0x0a000001);
    cr_assert_eq(out.u.dgram.port, 53);
    cr_assert_eq(out.u.dgram.len, 512);
    cr_assert_arr_eq(out.u.dgram.ptr, payload, 512);

    in = msg(PT_CREDIT, 0, 42);
    in.u.credit.n = 262144;
    roundtrip(&in, &out);
    cr_assert_eq(out.u.credit.n, 262144);
    in.h.type = PT_SEND_CREDIT;
    roundtrip(&in, &out);
    cr_assert_eq(out.u.credit.n, 262144);
}

Test(proto, roundtrip_replies_and_events)
{
    struct proto_msg in = msg(PT_REPLY, 11, 3), out;
    in.u.reply.status = PE_ADDRINUSE;
    in.u.reply.val0 = 1;
    in.u.reply.val1 = 0xffffffff;
    roundtrip(&in, &out);
    cr_assert_eq(out.u.reply.status, PE_ADDRINUSE);
    cr_assert_eq(out.u.reply.val1, 0xffffffff);

    in = msg(PT_INFO_REPLY, 12, 0);
    in.u.info.addr = 0x0a000002;
    in.u.info.pid = 1234;
    in.u.info.clients = 3;
    strcpy(in.u.info.tun, "tun0");
    roundtrip(&in, &out);
    cr_assert_str_eq(out.u.info.tun, "tun0");
    cr_assert_eq(out.u.info.pid, 1234);
    /* a 16-character name (no NUL on the wire) still decodes terminated */
    strcpy(in.u.info.tun, "abcdefghijklmnop");
    roundtrip(&in, &out);
    cr_assert_str_eq(out.u.info.tun, "abcdefghijklmnop");

    in = msg(PT_EV_ACCEPTED, 0, 5);
    in.u.accepted.new_id = 6;
    in.u.accepted.laddr = 0x0a000002;
    in.u.accepted.raddr = 0x0a000001;
    in.u.accepted.lport = 8080;
    in.u.accepted.rport = 40000;
    in.u.accepted.send_credit = 1 << 20;
    roundtrip(&in, &out);
    cr_assert_eq(out.u.accepted.new_id, 6);
    cr_assert_eq(out.u.accepted.rport, 40000);
    cr_assert_eq(out.u.accepted.send_credit, 1 << 20);

    in = msg(PT_EV_CONNECTED, 0, 5);
    in.u.connected.laddr = 0x0a000002;
    in.u.connected.lport = 49152;
    in.u.connected.send_credit = 99;
    roundtrip(&in, &out);
    cr_assert_eq(out.u.connected.lport, 49152);
    cr_assert_eq(out.u.connected.send_credit, 99);

    in = msg(PT_EV_ERROR, 0, 5);
    in.u.error.err = PE_CONNRESET;
    roundtrip(&in, &out);
    cr_assert_eq(out.u.error.err, PE_CONNRESET);
}

Test(proto, conn_records)
{
    struct proto_conn_rec r = {.proto = 6,
                               .state = "ESTABLISHED",
                               .laddr = 1,
                               .raddr = 2,
                               .lport = 3,
                               .rport = 4,
                               .snd_una = 5,
                               .snd_nxt = 6,
                               .snd_wnd = 7,
                               .rcv_nxt = 8,
                               .rcv_wnd = 9,
                               .send_queue = 10,
                               .recv_queue = 11,
                               .rto_ms = 12,
                               .srtt_ms = 13,
                               .retransmits = 14,
                               .pid = 15,
                               .uid = 16,
                               .sock_id = 17,
                               .cc = "newreno",
                               .cwnd = 18,
                               .ssthresh = UINT32_MAX,
                               .rttvar_ms = 19,
                               .in_flight = 20,
                               .sacked = 21,
                               .lost = 22,
                               .reord_seen = 23,
                               .dup_segs_rcvd = 24,
                               .delivery_rate = 0x123456789aULL,
                               .opts = PROTO_CONN_SACK | PROTO_CONN_WS,
                               .snd_wscale = 7,
                               .rcv_wscale = 14};
    uint8_t rec[2 * PROTO_CONN_REC_LEN];
    proto_conn_rec_encode(rec, &r);
    proto_conn_rec_encode(rec + PROTO_CONN_REC_LEN, &r);
    struct proto_msg in = msg(PT_CONN_LIST, 1, 0), out;
    in.h.flags = PROTO_F_MORE;
    in.u.data.ptr = rec;
    in.u.data.len = sizeof rec;
    roundtrip(&in, &out);
    struct proto_conn_rec d;
    proto_conn_rec_decode(out.u.data.ptr + PROTO_CONN_REC_LEN, &d);
    uint8_t again[PROTO_CONN_REC_LEN];
    proto_conn_rec_encode(again, &d);
    cr_assert_eq(memcmp(again, rec, sizeof again), 0, "decode then encode is the identity");
    cr_assert_str_eq(d.state, "ESTABLISHED");
    cr_assert_str_eq(d.cc, "newreno");
    cr_assert_eq(d.sock_id, 17);
    cr_assert_eq(d.ssthresh, UINT32_MAX);
    cr_assert_eq(d.dup_segs_rcvd, 24);
    cr_assert_eq(d.delivery_rate, 0x123456789aULL);
    cr_assert_eq(d.opts, PROTO_CONN_SACK | PROTO_CONN_WS);
    cr_assert_eq(d.rcv_wscale, 14);
    /* the layout of docs/ipc.md: cc @80, cwnd @96, delivery_rate @128, opts @136 */
    cr_assert_eq(memcmp(rec + 80, "newreno\0\0\0\0\0\0\0\0", 16), 0);
    cr_assert_eq(proto_get32(rec + 96), 18);
    cr_assert_eq(proto_get32(rec + 124), 24);
    cr_assert_eq(proto_get64(rec + 128), 0x123456789aULL);
    cr_assert_eq(rec[136], 0x05);
    cr_assert_eq(rec[137], 7);
    cr_assert_eq(rec[138], 14);
    for (size_t i = 139; i < PROTO_CONN_REC_LEN; i++)
        cr_assert_eq(rec[i], 0, "reserved byte %zu", i);
    /* a congestion control name of 16 bytes with no NUL, and a control byte, decode as
     * a printable, terminated string */
    memset(rec + 80, 'x', 16);
    rec[81] = 0x07;
    proto_conn_rec_decode(rec, &d);
    cr_assert_str_eq(d.cc, "x?xxxxxxxxxxxxx");
    /* not a multiple of the record size */
    in.u.data.len = PROTO_CONN_REC_LEN + 1;
    cr_assert_eq(proto_encode(&in, buf, sizeof buf), PROTO_EPAYLOAD);
    proto_encode_hdr(buf, PT_CONN_LIST, 0, 1, 0, PROTO_CONN_REC_LEN + 1);
    struct proto_msg m;
    size_t fl;
    cr_assert_eq(proto_decode(buf, PROTO_HDR_LEN + PROTO_CONN_REC_LEN + 1, &m, &fl),
                 PROTO_EPAYLOAD);
}

Test(proto, stat_records)
{
    uint8_t p[512];
    size_t n = 0;
    long w = proto_stat_rec_encode(p, sizeof p, "tcp", "rx_segments", "TCP segments received",
                                   123456789012ull);
    cr_assert_gt(w, 0);
    n += (size_t)w;
    w = proto_stat_rec_encode(p + n, sizeof p - n, "ip", "drop_short", "", 0);
    cr_assert_gt(w, 0);
    n += (size_t)w;
    cr_assert_eq(proto_stat_rec_encode(p, 10, "ip", "x", "y", 1), PROTO_ENOSPC);
    cr_assert_eq(proto_stat_rec_encode(p, sizeof p, "", "x", "y", 1), PROTO_EPAYLOAD);

    struct proto_msg in = msg(PT_STATS_LIST, 1, 0), out;
    in.u.data.ptr = p;
    in.u.data.len = n;
    roundtrip(&in, &out);
    size_t off = 0;
    struct proto_stat_rec r;
    cr_assert_eq(proto_stat_rec_next(out.u.data.ptr, out.u.data.len, &off, &r), 1);
    cr_assert_str_eq(r.layer, "tcp");
    cr_assert_str_eq(r.name, "rx_segments");
    cr_assert_str_eq(r.desc, "TCP segments received");
    cr_assert_eq(r.value, 123456789012ull);
    cr_assert_eq(proto_stat_rec_next(out.u.data.ptr, out.u.data.len, &off, &r), 1);
    cr_assert_str_eq(r.name, "drop_short");
    cr_assert_str_eq(r.desc, "");
    cr_assert_eq(proto_stat_rec_next(out.u.data.ptr, out.u.data.len, &off, &r), 0);

    /* a record cut short anywhere is malformed */
    for (size_t cut = 1; cut < n; cut++) {
        off = 0;
        int rc;
        while ((rc = proto_stat_rec_next(p, cut, &off, &r)) == 1) {
        }
        if (cut != (size_t)(n - (size_t)w)) cr_assert_eq(rc, PROTO_EPAYLOAD, "cut %zu", cut);
    }
    /* a frame carrying a malformed record list is rejected */
    proto_encode_hdr(buf, PT_STATS_LIST, 0, 1, 0, 5);
    memcpy(buf + PROTO_HDR_LEN, p, 5);
    struct proto_msg m;
    size_t fl;
    cr_assert_eq(proto_decode(buf, PROTO_HDR_LEN + 5, &m, &fl), PROTO_EPAYLOAD);
}

static int decode_raw(const uint8_t *b, size_t n)
{
    struct proto_msg m;
    size_t fl;
    return proto_decode(b, n, &m, &fl);
}

Test(proto, malformed_headers)
{
    uint8_t h[PROTO_HDR_LEN + 16];
    proto_encode_hdr(h, PT_INFO, 0, 1, 0, 0);
    cr_assert_eq(decode_raw(h, PROTO_HDR_LEN), PROTO_OK);

    h[0] = 'X';
    cr_assert_eq(decode_raw(h, PROTO_HDR_LEN), PROTO_EMAGIC);
    cr_assert_eq(decode_raw(h, 1), PROTO_EMAGIC, "bad magic is seen before the header is whole");
    h[0] = 'M';
    h[1] = 'X';
    cr_assert_eq(decode_raw(h, 2), PROTO_EMAGIC);
    h[1] = 'T';

    h[2] = 2;
    cr_assert_eq(decode_raw(h, PROTO_HDR_LEN), PROTO_EVERSION);
    cr_assert_eq(decode_raw(h, 3), PROTO_EVERSION);
    h[2] = 0;
    cr_assert_eq(decode_raw(h, PROTO_HDR_LEN), PROTO_EVERSION);
    h[2] = PROTO_VERSION;

    uint8_t unknown[] = {0x00, 0x09, 0x15, 0x25, 0x44, 0x54, 0xff};
    for (size_t i = 0; i < sizeof unknown; i++) {
        h[3] = unknown[i];
        cr_assert_eq(decode_raw(h, PROTO_HDR_LEN), PROTO_ETYPE, "type 0x%x", unknown[i]);
        cr_assert_eq(proto_type_dir(unknown[i]), 0);
    }
    h[3] = PT_INFO;

    proto_encode_hdr(h, PT_INFO, PROTO_F_MORE, 1, 0, 0); /* flag not allowed on INFO */
    cr_assert_eq(decode_raw(h, PROTO_HDR_LEN), PROTO_EFLAGS);
    proto_encode_hdr(h, PT_CLOSE, 0x8000, 1, 0, 0);
    cr_assert_eq(decode_raw(h, PROTO_HDR_LEN), PROTO_EFLAGS);
    proto_encode_hdr(h, PT_INFO, 0, 1, 0, 0);
    h[6] = 1; /* reserved */
    cr_assert_eq(decode_raw(h, PROTO_HDR_LEN), PROTO_EFLAGS);

    proto_encode_hdr(h, PT_DATA, 0, 1, 0, PROTO_MAX_PAYLOAD + 1);
    cr_assert_eq(decode_raw(h, PROTO_HDR_LEN), PROTO_ELEN, "oversize is seen from the header");
    proto_encode_hdr(h, PT_DATA, 0, 1, 0, 0xffffffffu);
    cr_assert_eq(decode_raw(h, PROTO_HDR_LEN), PROTO_ELEN);
    proto_encode_hdr(h, PT_DATA, 0, 1, 0, PROTO_MAX_PAYLOAD);
    cr_assert_eq(decode_raw(h, PROTO_HDR_LEN), PROTO_ETRUNC);

    /* truncated header: any prefix of a good header */
    proto_encode_hdr(h, PT_INFO, 0, 1, 0, 0);
    for (size_t i = 0; i < PROTO_HDR_LEN; i++)
        cr_assert_eq(decode_raw(h, i), PROTO_ETRUNC);
}

Test(proto, malformed_payloads)
{
    struct {
        uint8_t type;
        uint32_t len;
    } wrong_len[] = {
        {PT_SOCKET, 3},       {PT_SOCKET, 5},   {PT_BIND, 4},        {PT_LISTEN, 0},
        {PT_CONNECT, 9},      {PT_SHUTDOWN, 8}, {PT_CLOSE, 1},       {PT_SETOPT, 4},
        {PT_INFO, 4},         {PT_GETOPT, 8},   {PT_DGRAM, 7},       {PT_CREDIT, 2},
        {PT_SEND_CREDIT, 8},  {PT_REPLY, 4},    {PT_INFO_REPLY, 31}, {PT_EV_ACCEPTED, 16},
        {PT_EV_CONNECTED, 8}, {PT_EV_EOF, 1},   {PT_EV_ERROR, 0}};
    for (size_t i = 0; i < sizeof wrong_len / sizeof wrong_len[0]; i++) {
        memset(buf, 0, 64);
        proto_encode_hdr(buf, wrong_len[i].type, 0, 1, 1, wrong_len[i].len);
        cr_assert_eq(decode_raw(buf, PROTO_HDR_LEN + wrong_len[i].len), PROTO_EPAYLOAD, "%s len %u",
                     proto_type_name(wrong_len[i].type), wrong_len[i].len);
    }

    /* bad field values */
    proto_encode_hdr(buf, PT_SOCKET, 0, 1, 0, 4);
    memcpy(buf + PROTO_HDR_LEN, "\x03\0\0\0", 4);
    cr_assert_eq(decode_raw(buf, PROTO_HDR_LEN + 4), PROTO_EPAYLOAD, "socket kind 3");
    memcpy(buf + PROTO_HDR_LEN, "\x01\0\x01\0", 4);
    cr_assert_eq(decode_raw(buf, PROTO_HDR_LEN + 4), PROTO_EPAYLOAD, "padding set");
    proto_encode_hdr(buf, PT_SHUTDOWN, 0, 1, 1, 4);
    memcpy(buf + PROTO_HDR_LEN, "\x04\0\0\0", 4);
    cr_assert_eq(decode_raw(buf, PROTO_HDR_LEN + 4), PROTO_EPAYLOAD, "shutdown how 4");
    memcpy(buf + PROTO_HDR_LEN, "\0\0\0\0", 4);
    cr_assert_eq(decode_raw(buf, PROTO_HDR_LEN + 4), PROTO_EPAYLOAD, "shutdown how 0");
    proto_encode_hdr(buf, PT_EV_ERROR, 0, 0, 1, 4);
    memcpy(buf + PROTO_HDR_LEN, "\0\0\0\0", 4);
    cr_assert_eq(decode_raw(buf, PROTO_HDR_LEN + 4), PROTO_EPAYLOAD, "error 0");
    proto_encode_hdr(buf, PT_EV_ACCEPTED, 0, 0, 1, 20);
    memset(buf + PROTO_HDR_LEN, 0, 20);
    cr_assert_eq(decode_raw(buf, PROTO_HDR_LEN + 20), PROTO_EPAYLOAD, "new id 0");
    proto_encode_hdr(buf, PT_BIND, 0, 1, 1, 8);
    memcpy(buf + PROTO_HDR_LEN, "\0\0\0\0\x50\0\x01\0", 8);
    cr_assert_eq(decode_raw(buf, PROTO_HDR_LEN + 8), PROTO_EPAYLOAD, "bind padding");
}

Test(proto, stream_of_frames)
{
    /* several frames back to back decode one after another */
    size_t off = 0;
    for (uint32_t i = 0; i < 10; i++) {
        struct proto_msg m = msg(PT_CREDIT, i, i + 100);
        m.u.credit.n = i * 1000;
        long n = proto_encode(&m, buf + off, sizeof buf - off);
        cr_assert_gt(n, 0);
        off += (size_t)n;
    }
    size_t pos = 0;
    for (uint32_t i = 0; i < 10; i++) {
        struct proto_msg m;
        size_t fl;
        cr_assert_eq(proto_decode(buf + pos, off - pos, &m, &fl), PROTO_OK);
        cr_assert_eq(m.h.sock_id, i + 100);
        cr_assert_eq(m.u.credit.n, i * 1000);
        pos += fl;
    }
    cr_assert_eq(pos, off);
}

Test(proto, encode_errors)
{
    struct proto_msg m = msg(PT_REPLY, 1, 1);
    cr_assert_eq(proto_encode(&m, buf, PROTO_HDR_LEN + 11), PROTO_ENOSPC);
    cr_assert_eq(proto_encode(&m, buf, PROTO_HDR_LEN + 12), PROTO_HDR_LEN + 12);
    m.h.type = 0x99;
    cr_assert_eq(proto_encode(&m, buf, sizeof buf), PROTO_ETYPE);
    m = msg(PT_INFO, 1, 0);
    m.h.flags = PROTO_F_ABORT;
    cr_assert_eq(proto_encode(&m, buf, sizeof buf), PROTO_EFLAGS);
}

Test(proto, errno_mapping)
{
    int e[] = {EINVAL,      EBADF,   EADDRINUSE, ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE,
               ENOTCONN,    EISCONN, EMFILE,     ENOMEM,       EAGAIN,     EMSGSIZE,  ENOBUFS,
               EINPROGRESS, EUSERS,  ENFILE,     EACCES,       EPERM};
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++) {
        uint32_t pe = proto_err_from_errno(e[i]);
        cr_assert_neq(pe, PE_OTHER);
        cr_assert_eq(proto_err_to_errno(pe), e[i]);
        cr_assert_eq(proto_err_from_errno(-e[i]), pe, "negative errno accepted too");
    }
    cr_assert_eq(proto_err_from_errno(ENOTTY), PE_OTHER);
    cr_assert_eq(proto_err_to_errno(200), EIO);
    cr_assert_str_eq(proto_err_name(PE_CONNRESET), "ECONNRESET");
    cr_assert_eq(proto_err_from_errno(EACCES), 26);
    cr_assert_eq(proto_err_from_errno(EPERM), 27);
}

Test(proto, directions)
{
    cr_assert_eq(proto_type_dir(PT_SOCKET), PROTO_DIR_C2D);
    cr_assert_eq(proto_type_dir(PT_DATA), PROTO_DIR_C2D | PROTO_DIR_D2C);
    cr_assert_eq(proto_type_dir(PT_EV_ACCEPTED), PROTO_DIR_D2C);
    cr_assert_eq(proto_type_dir(PT_SEND_CREDIT), PROTO_DIR_D2C);
    cr_assert_eq(proto_type_dir(PT_CREDIT), PROTO_DIR_C2D);
}

Test(proto, capture_frames)
{
    struct proto_msg in = msg(PT_CAPTURE, 5, 0), out;
    in.u.capture.host = 0x0a000001;
    in.u.capture.port = 8080;
    in.u.capture.flags = PROTO_CAPTURE_NS;
    in.u.capture.snaplen = 96;
    uint8_t cb[64];
    cr_assert_eq(proto_encode(&in, cb, sizeof cb), PROTO_HDR_LEN + 12);
    /* exact bytes: u32 host, u16 port, u8 flags, u8 pad, u32 snaplen, little-endian */
    const uint8_t want[12] = {0x01, 0, 0, 0x0a, 0x90, 0x1f, 1, 0, 96, 0, 0, 0};
    cr_assert_arr_eq(cb + PROTO_HDR_LEN, want, 12);
    roundtrip(&in, &out);
    cr_assert_eq(out.u.capture.host, 0x0a000001u);
    cr_assert_eq(out.u.capture.port, 8080);
    cr_assert_eq(out.u.capture.flags, PROTO_CAPTURE_NS);
    cr_assert_eq(out.u.capture.snaplen, 96u);
    size_t fl;
    cb[PROTO_HDR_LEN + 6] = 2; /* unknown flag */
    cr_assert_eq(proto_decode(cb, PROTO_HDR_LEN + 12, &out, &fl), PROTO_EPAYLOAD);
    cb[PROTO_HDR_LEN + 6] = 1;
    cb[PROTO_HDR_LEN + 7] = 1; /* pad */
    cr_assert_eq(proto_decode(cb, PROTO_HDR_LEN + 12, &out, &fl), PROTO_EPAYLOAD);

    in = msg(PT_CAPTURE_STOP, 6, 0);
    roundtrip(&in, &out);
    cr_assert_eq(out.h.type, PT_CAPTURE_STOP);

    static const uint8_t recs[20] = {1, 2, 3};
    in = msg(PT_CAPTURE_DATA, 0, 0);
    in.u.capdata.drops = 77;
    in.u.capdata.ptr = recs;
    in.u.capdata.len = sizeof recs;
    roundtrip(&in, &out);
    cr_assert_eq(out.u.capdata.drops, 77u);
    cr_assert_eq(out.u.capdata.len, sizeof recs);
    cr_assert_arr_eq(out.u.capdata.ptr, recs, sizeof recs);
    cr_assert_eq(proto_type_dir(PT_CAPTURE), PROTO_DIR_C2D);
    cr_assert_eq(proto_type_dir(PT_CAPTURE_STOP), PROTO_DIR_C2D);
    cr_assert_eq(proto_type_dir(PT_CAPTURE_DATA), PROTO_DIR_D2C);
}
