/* Goodput of each congestion control on the simulated link (issue 11): two MiniTCP
 * engines in virtual time (tests/unit/tcp_harness.c's th_link), one bulk sender, one
 * reader checking every byte; 50 ms RTT, 1 % random loss each way, a 100 Mbit/s
 * bottleneck with one BDP of queue, fixed seeds. Goodput = bytes the reader got in the
 * first N virtual seconds (slow start included) / N. Median of the seeds, with min/max.
 *
 * Usage: cc_goodput [--seconds N] [--seeds K] [--loss P] [--rtt MS] [--mbps R]
 *                   [--buf BYTES] [--json]
 * Defaults: 60 s, 5 seeds, 1 %, 50 ms, 100 Mbit/s, 4 MiB socket buffers (so that the
 * window is the congestion controller's, not the receive buffer's). --json: one JSON
 * object per algorithm on stdout instead of the table. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_harness.h"

#define A_ADDR TH_ADDR(10, 0, 0, 1)
#define B_ADDR TH_ADDR(10, 0, 0, 2)
#define PERIOD 65521 /* the pattern repeats with a prime period: no alignment with segments */

static uint8_t pat[PERIOD + 65536];

struct opts {
    unsigned seconds, seeds, loss, rtt, mbps, buf;
    bool json;
};

struct result {
    double mbps;
    uint64_t bytes, retransmits, fast_retransmits, dropped, packets;
};

static void fail(const char *what)
{
    fprintf(stderr, "cc_goodput: %s\n", what);
    exit(1);
}

static struct result run(const struct opts *o, unsigned cc, uint64_t seed)
{
    struct stack_config ca, cb;
    th_config(&ca, A_ADDR);
    th_config(&cb, B_ADDR);
    cb.isn_secret[0] ^= 0x55;
    ca.cc = cb.cc = cc;
    ca.rcv_buf = cb.rcv_buf = ca.snd_buf = cb.snd_buf = o->buf;
    struct th_engine *a = th_new(&ca, false), *b = th_new(&cb, false);
    uint32_t rate = o->mbps * 125; /* bytes per ms */
    struct th_link_cfg lc = {.seed = seed,
                             .loss_pct = o->loss,
                             .rtt_ms = o->rtt,
                             .rate_bpms = rate,
                             .queue_bytes = rate * o->rtt};
    struct th_link *l = th_link_new(a, b, &lc);
    int lh = stack_tcp_listen(b->st, 9, 4);
    int ha = stack_tcp_connect(a->st, B_ADDR, 9, 0, 0), hb = 0;
    if (lh <= 0 || ha <= 0) fail("listen/connect failed");
    uint64_t end = (uint64_t)o->seconds * 1000, sent = 0, rcvd = 0;
    static uint8_t buf[65536];
    while (th_link_step(l, end)) {
        uint64_t now = th_link_now(l);
        if (hb <= 0) hb = stack_tcp_accept(b->st, lh);
        for (;;) {
            size_t off = sent % PERIOD;
            long r = stack_tcp_send(a->st, ha, pat + off, 65536, now);
            if (r <= 0) break;
            sent += (uint64_t)r;
        }
        while (hb > 0) {
            long r = stack_tcp_recv(b->st, hb, buf, sizeof buf, now);
            if (r <= 0) break;
            if (memcmp(buf, pat + rcvd % PERIOD, (size_t)r) != 0) fail("received bytes differ");
            rcvd += (uint64_t)r;
        }
        if (stack_sock_error(a->st, ha)) fail("the sender's connection failed");
    }
    const struct stack_stats *s = stack_stats(a->st);
    struct result res = {.mbps = (double)rcvd * 8 / ((double)end * 1000),
                         .bytes = rcvd,
                         .retransmits = s->tcp_retransmits,
                         .fast_retransmits = s->tcp_fast_retransmits,
                         .dropped = th_link_dropped(l),
                         .packets = th_link_sent(l)};
    th_link_free(l);
    th_free(a);
    th_free(b);
    return res;
}

static int by_mbps(const void *x, const void *y)
{
    double a = ((const struct result *)x)->mbps, b = ((const struct result *)y)->mbps;
    return (a > b) - (a < b);
}

int main(int argc, char **argv)
{
    struct opts o = {60, 5, 1, 50, 100, 4 << 20, false};
    static const struct option lo[] = {
        {"seconds", 1, 0, 's'}, {"seeds", 1, 0, 'k'}, {"loss", 1, 0, 'l'}, {"rtt", 1, 0, 'r'},
        {"mbps", 1, 0, 'm'},    {"buf", 1, 0, 'b'},   {"json", 0, 0, 'j'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        unsigned v = optarg ? (unsigned)strtoul(optarg, NULL, 0) : 0;
        switch (c) {
        case 's':
            o.seconds = v;
            break;
        case 'k':
            o.seeds = v;
            break;
        case 'l':
            o.loss = v;
            break;
        case 'r':
            o.rtt = v;
            break;
        case 'm':
            o.mbps = v;
            break;
        case 'b':
            o.buf = v;
            break;
        case 'j':
            o.json = true;
            break;
        default:
            fprintf(stderr, "usage: see the comment at the top of bench/cc_goodput.c\n");
            return 2;
        }
    }
    if (!o.seconds || !o.seeds || o.seeds > 99 || o.loss > 99 || !o.rtt || !o.mbps || !o.buf)
        fail("bad option value");
    for (size_t i = 0; i < sizeof pat; i++)
        pat[i] = th_pattern(7, i % PERIOD);
    if (!o.json)
        printf("cc_goodput: %u s virtual, %u %% loss each way, RTT %u ms, %u Mbit/s, queue 1 BDP, "
               "buffers %u bytes, seeds 1..%u\n%-8s %-26s %-24s %s\n",
               o.seconds, o.loss, o.rtt, o.mbps, o.buf, o.seeds, "cc", "goodput Mbit/s median",
               "[min max]", "median run: timeouts, fast retransmits, dropped/packets");
    const unsigned ccs[] = {STACK_CC_NEWRENO, STACK_CC_CUBIC};
    for (size_t k = 0; k < 2; k++) {
        struct result r[99];
        for (unsigned s = 0; s < o.seeds; s++)
            r[s] = run(&o, ccs[k], s + 1);
        qsort(r, o.seeds, sizeof r[0], by_mbps);
        const struct result *m = &r[o.seeds / 2];
        if (o.json)
            printf("{\"cc\":\"%s\",\"seconds\":%u,\"loss_pct\":%u,\"rtt_ms\":%u,\"link_mbps\":%u,"
                   "\"seeds\":%u,\"goodput_mbps\":%.3f,\"min_mbps\":%.3f,\"max_mbps\":%.3f,"
                   "\"timeouts\":%llu,\"fast_retransmits\":%llu}\n",
                   stack_cc_name(ccs[k]), o.seconds, o.loss, o.rtt, o.mbps, o.seeds, m->mbps,
                   r[0].mbps, r[o.seeds - 1].mbps, (unsigned long long)m->retransmits,
                   (unsigned long long)m->fast_retransmits);
        else
            printf("%-8s %-26.2f [%.2f %.2f]%-10s %llu, %llu, %llu/%llu\n", stack_cc_name(ccs[k]),
                   m->mbps, r[0].mbps, r[o.seeds - 1].mbps, "", (unsigned long long)m->retransmits,
                   (unsigned long long)m->fast_retransmits, (unsigned long long)m->dropped,
                   (unsigned long long)m->packets);
    }
    return 0;
}
