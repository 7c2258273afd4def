#include "pkt_harness.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void ph_output_cb(void *ctx, const uint8_t *pkt, size_t len)
{
    struct ph_ctx *c = ctx;
    cr_assert(c->npkts < PH_MAX_PKTS, "more than %d packets sent", PH_MAX_PKTS);
    uint8_t *copy = malloc(len ? len : 1);
    cr_assert(copy != NULL);
    memcpy(copy, pkt, len);
    c->pkts[c->npkts].data = copy;
    c->pkts[c->npkts].len = len;
    c->npkts++;
}

static void ph_event_cb(void *ctx, int handle, unsigned events)
{
    struct ph_ctx *c = ctx;
    cr_assert(c->nevents < PH_MAX_EVENTS, "more than %d events", PH_MAX_EVENTS);
    c->events[c->nevents].handle = handle;
    c->events[c->nevents].events = events;
    c->nevents++;
}

static void ph_trace_cb(void *ctx, const char *line)
{
    struct ph_ctx *c = ctx;
    if (c->nlines == PH_MAX_LINES) return;
    snprintf(c->lines[c->nlines], PH_LINE_MAX, "%s", line);
    c->nlines++;
}

static struct ph_ctx *ph_make(uint16_t udp_echo_port, bool v6)
{
    struct ph_ctx *c = calloc(1, sizeof *c);
    cr_assert(c != NULL);
    stack_config_defaults(&c->cfg);
    c->cfg.addr = PH_US;
    if (v6) {
        static const uint8_t fd00_2[16] = {0xfd, [15] = 2};
        memcpy(c->cfg.addr6, fd00_2, 16);
        c->cfg.has_addr6 = true;
    }
    c->cfg.udp_echo_port = udp_echo_port;
    c->cfg.output = ph_output_cb;
    c->cfg.event = ph_event_cb;
    c->cfg.trace = ph_trace_cb;
    c->cfg.ctx = c;
    c->st = stack_new(&c->cfg);
    cr_assert(c->st != NULL);
    return c;
}

struct ph_ctx *ph_new(uint16_t udp_echo_port)
{
    return ph_make(udp_echo_port, false);
}

struct ph_ctx *ph_new6(uint16_t udp_echo_port)
{
    return ph_make(udp_echo_port, true);
}

void ph_clear(struct ph_ctx *c)
{
    for (size_t i = 0; i < c->npkts; i++)
        free(c->pkts[i].data);
    c->npkts = 0;
    c->nevents = 0;
    c->nlines = 0;
}

void ph_free(struct ph_ctx *c)
{
    if (!c) return;
    ph_clear(c);
    stack_free(c->st);
    free(c);
}

void ph_input(struct ph_ctx *c, const uint8_t *pkt, size_t len, uint64_t now)
{
    stack_input(c->st, pkt, len, now);
}

int ph_has_line(const struct ph_ctx *c, const char *line)
{
    for (size_t i = 0; i < c->nlines; i++)
        if (strcmp(c->lines[i], line) == 0) return 1;
    return 0;
}

size_t ph_count_lines(const struct ph_ctx *c, const char *prefix)
{
    size_t n = 0, plen = strlen(prefix);
    for (size_t i = 0; i < c->nlines; i++)
        if (strncmp(c->lines[i], prefix, plen) == 0) n++;
    return n;
}

/* ---- counters ---- */

static const struct {
    const char *name;
    size_t off;
} ph_counters[] = {
#define X(layer, name, desc) {#layer "_" #name, offsetof(struct stack_stats, layer##_##name)},
    STACK_STATS(X)
#undef X
};
#define PH_NCOUNTERS (sizeof ph_counters / sizeof ph_counters[0])

static uint64_t ph_counter_at(const struct ph_ctx *c, size_t i)
{
    const struct stack_stats *s = stack_stats(c->st);
    uint64_t v;
    memcpy(&v, (const char *)s + ph_counters[i].off, sizeof v);
    return v;
}

uint64_t ph_counter(const struct ph_ctx *c, const char *name)
{
    for (size_t i = 0; i < PH_NCOUNTERS; i++)
        if (strcmp(ph_counters[i].name, name) == 0) return ph_counter_at(c, i);
    cr_assert_fail("unknown counter %s", name);
    return 0;
}

void ph_expect_counters(const struct ph_ctx *c, const char *spec)
{
    uint64_t want[PH_NCOUNTERS] = {0};
    const char *p = spec;
    for (;;) {
        char name[64];
        unsigned long long v;
        int used;
        while (*p == ' ')
            p++;
        if (!*p) break;
        cr_assert(sscanf(p, "%63[a-z0-9_]=%llu%n", name, &v, &used) == 2, "bad spec at '%s'", p);
        p += used;
        size_t i = 0;
        while (i < PH_NCOUNTERS && strcmp(ph_counters[i].name, name) != 0)
            i++;
        cr_assert(i < PH_NCOUNTERS, "unknown counter %s", name);
        want[i] = v;
    }
    for (size_t i = 0; i < PH_NCOUNTERS; i++) {
        /* the memory accountant's gauges (mem_used, mem_max...) are not event counters:
         * checked only when the spec names them */
        if (strncmp(ph_counters[i].name, "mem_", 4) == 0 && !strstr(spec, ph_counters[i].name))
            continue;
        uint64_t got = ph_counter_at(c, i);
        cr_expect_eq(got, want[i], "counter %s = %llu, expected %llu", ph_counters[i].name,
                     (unsigned long long)got, (unsigned long long)want[i]);
    }
}

/* ---- checksums ---- */

uint32_t ph_sum(uint32_t acc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 2) {
        uint32_t hi = p[i];
        uint32_t lo = i + 1 < n ? p[i + 1] : 0;
        acc += (hi << 8) | lo;
        acc = (acc & 0xffffu) + (acc >> 16); /* end-around carry at every step */
    }
    return acc;
}

uint16_t ph_fold(uint32_t acc)
{
    while (acc > 0xffffu)
        acc = (acc & 0xffffu) + (acc >> 16);
    return (uint16_t)(~acc & 0xffffu);
}

uint32_t ph_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
    uint8_t ph[12];
    ph[0] = (uint8_t)(src >> 24);
    ph[1] = (uint8_t)(src >> 16);
    ph[2] = (uint8_t)(src >> 8);
    ph[3] = (uint8_t)src;
    ph[4] = (uint8_t)(dst >> 24);
    ph[5] = (uint8_t)(dst >> 16);
    ph[6] = (uint8_t)(dst >> 8);
    ph[7] = (uint8_t)dst;
    ph[8] = 0;
    ph[9] = proto;
    ph[10] = (uint8_t)(len >> 8);
    ph[11] = (uint8_t)len;
    return ph_sum(0, ph, sizeof ph);
}

/* ---- byte access ---- */

uint16_t ph_get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

uint32_t ph_get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

void ph_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void ph_put32(uint8_t *p, uint32_t v)
{
    ph_put16(p, (uint16_t)(v >> 16));
    ph_put16(p + 2, (uint16_t)v);
}

/* ---- builders ---- */

void ph_ip_fix_csum(uint8_t *pkt)
{
    size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
    ph_put16(pkt + 10, 0);
    ph_put16(pkt + 10, ph_fold(ph_sum(0, pkt, ihl)));
}

size_t ph_ip(uint8_t *buf, uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *payload,
             size_t plen)
{
    if (plen) memmove(buf + 20, payload, plen);
    buf[0] = 0x45;
    buf[1] = 0;
    ph_put16(buf + 2, (uint16_t)(20 + plen));
    ph_put16(buf + 4, 0x1234);
    ph_put16(buf + 6, 0);
    buf[8] = 64;
    buf[9] = proto;
    ph_put32(buf + 12, src);
    ph_put32(buf + 16, dst);
    ph_ip_fix_csum(buf);
    return 20 + plen;
}

size_t ph_icmp_echo(uint8_t *buf, uint8_t type, uint16_t id, uint16_t seq, const uint8_t *data,
                    size_t n)
{
    if (n) memmove(buf + 8, data, n);
    buf[0] = type;
    buf[1] = 0;
    ph_put16(buf + 2, 0);
    ph_put16(buf + 4, id);
    ph_put16(buf + 6, seq);
    ph_put16(buf + 2, ph_fold(ph_sum(0, buf, 8 + n)));
    return 8 + n;
}

size_t ph_udp(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
              const uint8_t *data, size_t n)
{
    uint16_t ulen = (uint16_t)(8 + n);
    if (n) memmove(buf + 8, data, n);
    ph_put16(buf, sport);
    ph_put16(buf + 2, dport);
    ph_put16(buf + 4, ulen);
    ph_put16(buf + 6, 0);
    uint16_t ck = ph_fold(ph_sum(ph_pseudo_sum(src, dst, 17, ulen), buf, ulen));
    ph_put16(buf + 6, ck ? ck : 0xffff);
    return ulen;
}

void ph_pattern(uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
}

size_t ph_ping(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t id, uint16_t seq, size_t data_len)
{
    uint8_t *data = malloc(data_len ? data_len : 1);
    cr_assert(data != NULL);
    ph_pattern(data, data_len);
    size_t n = ph_icmp_echo(buf + 20, 8, id, seq, data, data_len);
    free(data);
    return ph_ip(buf, src, dst, 1, buf + 20, n);
}

size_t ph_udp_pkt(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                  const uint8_t *data, size_t n)
{
    size_t u = ph_udp(buf + 20, src, dst, sport, dport, data, n);
    return ph_ip(buf, src, dst, 17, buf + 20, u);
}
