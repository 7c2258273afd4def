/* TCP option parsing and building (tcp_options.h). */
#include "tcp_options.h"

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

bool tcp_opts_parse(const uint8_t *p, size_t len, struct tcp_opts *o)
{
    *o = (struct tcp_opts){.ws = -1};
    for (size_t i = 0; i < len;) {
        uint8_t kind = p[i];
        if (kind == TCPOPT_EOL) break;
        if (kind == TCPOPT_NOP) {
            i++;
            continue;
        }
        if (i + 1 >= len || p[i + 1] < 2 || p[i + 1] > len - i) return false;
        uint8_t olen = p[i + 1];
        const uint8_t *v = p + i + 2;
        switch (kind) {
        case TCPOPT_MSS:
            if (olen != 4) break;
            o->mss = rd16(v);
            if (o->mss < TCP_MSS_MIN) o->mss = TCP_MSS_MIN; /* never a zero or absurd size */
            break;
        case TCPOPT_WSCALE:
            if (olen != 3) break;
            o->ws = (int8_t)(v[0] > TCP_WSCALE_MAX ? TCP_WSCALE_MAX : v[0]);
            break;
        case TCPOPT_SACK_PERM:
            if (olen == 2) o->sack_perm = true;
            break;
        case TCPOPT_SACK: /* RFC 2018 §3: length 2 + 8n */
            if (olen < 10 || (olen - 2) % 8 != 0 || (olen - 2) / 8 > TCP_SACK_MAX) {
                o->sack_bad = true;
                o->nsack = 0;
                break;
            }
            o->nsack = (uint8_t)((olen - 2) / 8);
            for (uint8_t b = 0; b < o->nsack; b++) {
                o->sack[b].start = rd32(v + 8 * b);
                o->sack[b].end = rd32(v + 4 + 8 * b);
            }
            break;
        case TCPOPT_TS:
            if (olen != TCPOLEN_TS) {
                o->ts_bad = true;
                break;
            }
            o->ts = true;
            o->tsval = rd32(v);
            o->tsecr = rd32(v + 4);
            break;
        default: /* unknown kinds are skipped */
            break;
        }
        i += olen;
    }
    return true;
}

size_t tcp_opts_build_ts(uint8_t *buf, uint32_t tsval, uint32_t tsecr)
{
    buf[0] = TCPOPT_NOP;
    buf[1] = TCPOPT_NOP;
    buf[2] = TCPOPT_TS;
    buf[3] = TCPOLEN_TS;
    wr32(buf + 4, tsval);
    wr32(buf + 8, tsecr);
    return TCPOLEN_TS_ALIGNED;
}

size_t tcp_opts_build_syn(uint8_t *buf, const struct tcp_syn_opts *o)
{
    size_t n = 0;
    buf[n++] = TCPOPT_MSS;
    buf[n++] = 4;
    wr16(buf + n, o->mss);
    n += 2;
    if (o->ws >= 0) {
        buf[n++] = TCPOPT_NOP;
        buf[n++] = TCPOPT_WSCALE;
        buf[n++] = 3;
        buf[n++] = (uint8_t)o->ws;
    }
    if (o->ts && o->sack_perm) { /* SACK-permitted takes the place of the two NOPs */
        buf[n++] = TCPOPT_SACK_PERM;
        buf[n++] = 2;
        buf[n++] = TCPOPT_TS;
        buf[n++] = TCPOLEN_TS;
        wr32(buf + n, o->tsval);
        wr32(buf + n + 4, o->tsecr);
        n += 8;
    } else if (o->ts) {
        n += tcp_opts_build_ts(buf + n, o->tsval, o->tsecr);
    } else if (o->sack_perm) {
        buf[n++] = TCPOPT_NOP;
        buf[n++] = TCPOPT_NOP;
        buf[n++] = TCPOPT_SACK_PERM;
        buf[n++] = 2;
    }
    return n;
}
