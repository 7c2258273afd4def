/* libFuzzer target for the TCP engine: a stack with a listener and an established
 * connection is fed a sequence of segments described by the input, interleaved with
 * user calls and advancing time. Segments get correct checksums (so the engine's logic
 * is reached, not only the checksum test) unless the input asks for raw bytes.
 *
 * The last input byte chooses the handshake's options besides MSS: bit 0 SACK-permitted,
 * bit 1 timestamps, bit 2 window scale (so SACK and timestamp processing is reachable).
 *
 * Record layout (repeated): op(1)
 *   op & 3 == 0: segment: flags(1) seq_off(4) ack_off(4) wnd(2) optlen(1) opts(optlen%41)
 *                datalen(2, capped at 2000) data   -- seq/ack relative to the peer's ISN
 *                and our ISN, on the established 4-tuple or (op & 4) another port.
 *                With op & 0x20 the opts bytes are parameters, not options: with op & 0x40
 *                first a timestamp option (TSval = TS_BASE + u32, TSecr = the last TSval
 *                we sent + int8), then one SACK block per 8 bytes (start and end as u32
 *                offsets from our ISN + 1, so blocks land on sent data, beyond it, below
 *                SND.UNA or wrap around), as many as fit in 40 bytes.
 *   op & 3 == 1: user call: which(1) (send/recv/shutdown/close/abort/connect/accept)
 *   op & 3 == 2: time: advance by byte * 37 ms and poll
 *   op & 3 == 3: raw: len(1) bytes handed to stack_input as an IP packet */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bytes.h"
#include "checksum.h"
#include "stack.h"
#include "tcp.h"

#define US 0x0a000002u
#define PEER 0x0a000001u
#define ISS 0xfffff000u /* near the wrap on purpose */
#define PISN 0x7ffffff0u
#define TS_BASE 0xfffffff0u /* the peer's timestamps wrap soon */

static uint8_t out_last[70000];
static size_t out_len;
static uint32_t our_tsval; /* the last TSval the stack sent */

static void out_cb(void *ctx, const uint8_t *pkt, size_t len)
{
    (void)ctx;
    if (len > sizeof out_last) __builtin_trap();
    memcpy(out_last, pkt, len); /* touch every byte: ASan checks the bounds */
    out_len = len;
    if (len < 40 || pkt[9] != 6) return;
    size_t hl = (size_t)(pkt[32] >> 4) * 4;
    for (size_t i = 40; i < 20 + hl && i < len;) {
        if (pkt[i] == 0) break;
        if (pkt[i] == 1 || i + 1 >= len || pkt[i + 1] < 2) {
            i++;
            continue;
        }
        if (pkt[i] == 8 && pkt[i + 1] == 10 && i + 10 <= len) our_tsval = get32(pkt + i + 2);
        i += pkt[i + 1];
    }
}

/* Builds the options of a segment record with op & 0x20 from its parameter bytes. */
static size_t build_opts(uint8_t *o, const uint8_t *par, size_t np, bool ts)
{
    size_t n = 0, p = 0;
    if (ts && np >= 5) {
        o[n++] = 1;
        o[n++] = 1;
        o[n++] = 8;
        o[n++] = 10;
        put32(o + n, TS_BASE + get32(par));
        put32(o + n + 4, our_tsval + (uint32_t)(int32_t)(int8_t)par[4]);
        n += 8;
        p = 5;
    }
    size_t k = (np - p) / 8;
    if (k > (40 - n - 2) / 8) k = (40 - n - 2) / 8;
    if (!k) return n;
    o[n++] = 5;
    o[n++] = (uint8_t)(2 + 8 * k);
    for (size_t b = 0; b < k; b++, p += 8) {
        put32(o + n, ISS + 1 + get32(par + p));
        put32(o + n + 4, ISS + 1 + get32(par + p + 4));
        n += 8;
    }
    return n;
}

static void ev_cb(void *ctx, int h, unsigned ev)
{
    (void)ctx;
    (void)h;
    (void)ev;
}

static size_t build(uint8_t *buf, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                    uint8_t flags, uint16_t wnd, const uint8_t *opt, size_t optlen,
                    const uint8_t *data, size_t len)
{
    size_t ol = (optlen + 3) & ~(size_t)3;
    size_t hl = 20 + ol, tl = hl + len;
    memset(buf, 0, 20 + hl);
    buf[0] = 0x45;
    put16(buf + 2, (uint16_t)(20 + tl));
    buf[8] = 64;
    buf[9] = 6;
    put32(buf + 12, PEER);
    put32(buf + 16, US);
    put16(buf + 10, inet_checksum(buf, 20));
    uint8_t *t = buf + 20;
    put16(t, sport);
    put16(t + 2, dport);
    put32(t + 4, seq);
    put32(t + 8, ack);
    t[12] = (uint8_t)((hl / 4) << 4);
    t[13] = flags;
    put16(t + 14, wnd);
    if (optlen) memcpy(t + 20, opt, optlen);
    if (len) memcpy(t + hl, data, len);
    put16(t + 16, csum_finish(csum_add(csum_pseudo(PEER, US, 6, (uint16_t)tl), t, tl)));
    return 20 + tl;
}

struct reader {
    const uint8_t *p;
    size_t n;
};

static int rd(struct reader *r, void *dst, size_t n)
{
    if (r->n < n) return 0;
    memcpy(dst, r->p, n);
    r->p += n;
    r->n -= n;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t pkt[2200];
    struct stack_config cfg;
    stack_config_defaults(&cfg);
    cfg.addr = US;
    cfg.output = out_cb;
    cfg.event = ev_cb;
    cfg.rcv_buf = 8192;
    cfg.snd_buf = 8192;
    cfg.msl_ms = 500;
    cfg.max_retries = 4;
    cfg.syn_retries = 2;
    cfg.time_wait_max = 2;
    cfg.tcp_echo_port = 7;
    struct stack *st = stack_new(&cfg);
    if (!st) return 0;
    tcp_test_set_isn(st, ISS);
    uint64_t now = 0;
    our_tsval = 0;
    int lh = stack_tcp_listen(st, 80, 4);
    /* the established connection: peer port 1234 -> 80, options chosen by the last byte */
    uint8_t hs = size ? data[size - 1] : 0, syn_opt[24] = {2, 4, 0x05, 0xb4};
    size_t so_len = 4;
    if (hs & 1) {
        memcpy(syn_opt + so_len, (const uint8_t[]){1, 1, 4, 2}, 4);
        so_len += 4;
    }
    if (hs & 2) {
        memcpy(syn_opt + so_len, (const uint8_t[]){1, 1, 8, 10}, 4);
        put32(syn_opt + so_len + 4, TS_BASE);
        put32(syn_opt + so_len + 8, 0);
        so_len += 12;
    }
    if (hs & 4) {
        memcpy(syn_opt + so_len, (const uint8_t[]){1, 3, 3, 7}, 4);
        so_len += 4;
    }
    size_t n = build(pkt, 1234, 80, PISN, 0, 0x02, 65535, syn_opt, so_len, NULL, 0);
    stack_input(st, pkt, n, now);
    uint8_t ack_opt[12] = {1, 1, 8, 10};
    put32(ack_opt + 4, TS_BASE);
    put32(ack_opt + 8, our_tsval);
    n = build(pkt, 1234, 80, PISN + 1, ISS + 1, 0x10, 65535, ack_opt, (hs & 2) ? 12 : 0, NULL, 0);
    stack_input(st, pkt, n, now);
    int h = stack_tcp_accept(st, lh);
    int h2 = 0;

    struct reader r = {data, size};
    uint8_t op;
    static uint8_t buf[4096];
    while (rd(&r, &op, 1)) {
        switch (op & 3) {
        case 0: {
            uint8_t flags, optlen;
            uint32_t so, ao;
            uint16_t wnd, dl;
            uint8_t opt[40], par[40];
            if (!rd(&r, &flags, 1) || !rd(&r, &so, 4) || !rd(&r, &ao, 4) || !rd(&r, &wnd, 2) ||
                !rd(&r, &optlen, 1))
                goto done;
            optlen %= 41;
            if (!(op & 0x20)) {
                if (!rd(&r, opt, optlen)) goto done;
            } else {
                if (!rd(&r, par, optlen)) goto done;
                optlen = (uint8_t)build_opts(opt, par, optlen, op & 0x40);
            }
            if (!rd(&r, &dl, 2)) goto done;
            dl %= 2001;
            if (dl > r.n) dl = (uint16_t)r.n;
            uint16_t dport = (op & 4) ? ((op & 8) ? 7 : 81) : 80;
            uint16_t sport = (op & 16) ? 1235 : 1234;
            n = build(pkt, sport, dport, PISN + so, ISS + ao, flags, wnd, opt, optlen, r.p, dl);
            r.p += dl;
            r.n -= dl;
            stack_input(st, pkt, n, now);
            break;
        }
        case 1: {
            uint8_t which;
            if (!rd(&r, &which, 1)) goto done;
            int target = (which & 0x80) ? h2 : h;
            switch (which & 7) {
            case 0:
                stack_tcp_send(st, target, buf, (size_t)(which & 0x78) * 34, now); /* <= 4080 */
                break;
            case 1:
                stack_tcp_recv(st, target, buf, sizeof buf, now);
                break;
            case 2:
                stack_tcp_shutdown(st, target, now);
                break;
            case 3:
                stack_tcp_close(st, target, now);
                break;
            case 4:
                stack_tcp_abort(st, target, now);
                break;
            case 5:
                if (h2 <= 0) h2 = stack_tcp_connect(st, PEER, 80, 1235, now);
                break;
            case 6: {
                int a = stack_tcp_accept(st, lh);
                if (a > 0) h2 = a;
                break;
            }
            default:
                stack_sock_error(st, target);
                break;
            }
            break;
        }
        case 2: {
            uint8_t dt;
            if (!rd(&r, &dt, 1)) goto done;
            now += (uint64_t)dt * 37;
            stack_poll(st, now);
            stack_time_t d = stack_next_deadline(st);
            if (d != STACK_TIME_NEVER && d < now)
                __builtin_trap(); /* a deadline left in the past would spin a daemon */
            break;
        }
        default: {
            uint8_t len;
            if (!rd(&r, &len, 1)) goto done;
            if (len > r.n) len = (uint8_t)r.n;
            memcpy(pkt, r.p, len);
            r.p += len;
            r.n -= len;
            stack_input(st, pkt, len, now);
            break;
        }
        }
    }
done:
    /* drain every timer: the engine must reach quiescence, never loop */
    for (int i = 0; i < 200 && stack_next_deadline(st) != STACK_TIME_NEVER; i++) {
        stack_time_t d = stack_next_deadline(st);
        now = d > now ? d : now;
        stack_poll(st, now);
    }
    stack_free(st);
    return 0;
}
