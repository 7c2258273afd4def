/* The sender's scoreboard (tcp_sb.h): a sorted circular array of segments over
 * SND.UNA..SND.MAX, with byte sums kept as flags change so pipe (RFC 6675 §4) costs
 * nothing per ACK. */
#include <stdlib.h>
#include <string.h>

#include "seq.h"
#include "tcp_sb.h"

static uint32_t seg_len(const struct tcp_sb_seg *e)
{
    return e->end - e->start;
}

/* Adds (sign 1) or removes (sign -1) e's share of the byte sums. */
static void account(struct tcp_sb *sb, const struct tcp_sb_seg *e, int sign)
{
    uint32_t len = seg_len(e);
    if (sign < 0) len = 0u - len;
    if (e->flags & SB_SACKED) {
        sb->sacked += len;
        sb->sacked_segs += sign < 0 ? UINT32_MAX : 1;
    } else if (e->flags & SB_LOST) {
        if (e->flags & SB_RETRANS)
            sb->retrans += len;
        else
            sb->lost += len;
    }
}

static void set_flags(struct tcp_sb *sb, struct tcp_sb_seg *e, uint8_t flags)
{
    account(sb, e, -1);
    e->flags = flags;
    account(sb, e, 1);
}

void tcp_sb_free(struct tcp_sb *sb)
{
    free(sb->seg);
    memset(sb, 0, sizeof *sb);
}

void tcp_sb_reset(struct tcp_sb *sb)
{
    sb->head = sb->n = 0;
    sb->sacked = sb->lost = sb->retrans = sb->sacked_segs = 0;
}

uint32_t tcp_sb_end(const struct tcp_sb *sb, uint32_t una)
{
    return sb->n ? tcp_sb_at(sb, sb->n - 1)->end : una;
}

/* Room for one more entry: grows the array up to the bound. */
static bool reserve(struct tcp_sb *sb)
{
    if (sb->n < sb->cap) return true;
    if (sb->cap >= TCP_SB_MAX) return false;
    uint32_t ncap = sb->cap ? sb->cap * 2 : TCP_SB_MIN;
    if (ncap > TCP_SB_MAX) ncap = TCP_SB_MAX;
    struct tcp_sb_seg *ns = malloc(ncap * sizeof *ns);
    if (!ns) return false;
    for (uint32_t i = 0; i < sb->n; i++)
        ns[i] = *tcp_sb_at(sb, i);
    free(sb->seg);
    sb->seg = ns;
    sb->cap = ncap;
    sb->head = 0;
    return true;
}

static bool append(struct tcp_sb *sb, uint32_t seq, uint32_t end, uint64_t now)
{
    if (!reserve(sb)) return false;
    struct tcp_sb_seg *e = tcp_sb_at(sb, sb->n++);
    *e = (struct tcp_sb_seg){.start = seq, .end = end, .xmit_ts = now};
    return true;
}

bool tcp_sb_split(struct tcp_sb *sb, uint32_t i, uint32_t seq)
{
    struct tcp_sb_seg *e = tcp_sb_at(sb, i);
    if (!seq_gt(seq, e->start) || !seq_lt(seq, e->end)) return true; /* nothing to cut */
    if (!reserve(sb)) return false;
    for (uint32_t j = sb->n; j > i + 1; j--)
        *tcp_sb_at(sb, j) = *tcp_sb_at(sb, j - 1);
    sb->n++;
    e = tcp_sb_at(sb, i);
    struct tcp_sb_seg *r = tcp_sb_at(sb, i + 1);
    *r = *e;
    e->end = seq; /* the sums cover the same bytes with the same flags */
    r->start = seq;
    if (e->flags & SB_SACKED) sb->sacked_segs++;
    return true;
}

uint32_t tcp_sb_lower(const struct tcp_sb *sb, uint32_t seq)
{
    uint32_t lo = 0, hi = sb->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (seq_gt(tcp_sb_at(sb, mid)->end, seq))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int32_t tcp_sb_find(const struct tcp_sb *sb, uint32_t seq)
{
    uint32_t i = tcp_sb_lower(sb, seq);
    if (i < sb->n && seq_geq(seq, tcp_sb_at(sb, i)->start)) return (int32_t)i;
    return -1;
}

bool tcp_sb_sent(struct tcp_sb *sb, uint32_t una, uint32_t seq, uint32_t len, uint64_t now)
{
    if (len == 0) return true;
    uint32_t end = seq + len;
    uint32_t tracked = tcp_sb_end(sb, una);
    if (sb->n == 0 || seq_geq(seq, tracked)) return append(sb, seq, end, now);
    /* sent again: the entries it covers (cut at its edges when there is room) */
    bool ok = true;
    uint32_t i = tcp_sb_lower(sb, seq);
    if (i < sb->n && seq_gt(seq, tcp_sb_at(sb, i)->start)) {
        if (tcp_sb_split(sb, i, seq))
            i++;
        else
            ok = false;
    }
    for (; i < sb->n; i++) {
        struct tcp_sb_seg *e = tcp_sb_at(sb, i);
        if (!seq_lt(e->start, end)) break;
        if (seq_gt(e->end, end) && !tcp_sb_split(sb, i, end)) ok = false;
        e = tcp_sb_at(sb, i);
        e->xmit_ts = now;
        if (e->rexmits < UINT8_MAX) e->rexmits++;
        if ((e->flags & (SB_LOST | SB_RETRANS)) == SB_LOST)
            set_flags(sb, e, (uint8_t)(e->flags | SB_RETRANS));
    }
    if (seq_gt(end, tracked) && !append(sb, tracked, end, now)) ok = false;
    return ok;
}

void tcp_sb_ack(struct tcp_sb *sb, uint32_t ack, void (*fn)(void *arg, const struct tcp_sb_seg *e),
                void *arg, struct tcp_sb_ev *ev)
{
    while (sb->n) {
        struct tcp_sb_seg *e = tcp_sb_at(sb, 0);
        if (!seq_lt(e->start, ack)) break;
        if (seq_leq(e->end, ack)) {
            if (!(e->flags & SB_SACKED)) ev->delivered += seg_len(e);
            if (fn) fn(arg, e);
            account(sb, e, -1);
            sb->head = (sb->head + 1) % sb->cap;
            sb->n--;
            continue;
        }
        /* a partial acknowledgment (a segment cut by a smaller retransmission) */
        if (!(e->flags & SB_SACKED)) ev->delivered += ack - e->start;
        if (fn) fn(arg, e);
        account(sb, e, -1);
        e->start = ack;
        account(sb, e, 1);
        break;
    }
    if (sb->n == 0) sb->head = 0;
}

/* Marks the entries [s, e) covers whole as SACKed, cutting the ones it covers in part. */
static void apply_block(struct tcp_sb *sb, uint32_t s, uint32_t e,
                        void (*fn)(void *arg, const struct tcp_sb_seg *e), void *arg,
                        struct tcp_sb_ev *ev)
{
    uint32_t i = tcp_sb_lower(sb, s);
    for (; i < sb->n; i++) {
        struct tcp_sb_seg *x = tcp_sb_at(sb, i);
        if (!seq_lt(x->start, e)) break;
        if (seq_lt(x->start, s)) {
            if (!tcp_sb_split(sb, i, s)) {
                ev->full = true;
                continue;
            }
            continue; /* the right part is entry i + 1, next round */
        }
        if (seq_gt(x->end, e) && !tcp_sb_split(sb, i, e)) {
            ev->full = true;
            break;
        }
        x = tcp_sb_at(sb, i);
        if (x->flags & SB_SACKED) continue;
        ev->delivered += seg_len(x);
        set_flags(sb, x, SB_SACKED);
        if (fn) fn(arg, x);
    }
}

void tcp_sb_sack(struct tcp_sb *sb, uint32_t una, uint32_t snd_max, const struct tcp_sack_blk *blk,
                 uint8_t nblk, void (*fn)(void *arg, const struct tcp_sb_seg *e), void *arg,
                 struct tcp_sb_ev *ev)
{
    if (nblk > TCP_SACK_MAX) nblk = TCP_SACK_MAX;
    uint32_t flight = snd_max - una;
    for (uint8_t k = 0; k < nblk; k++) {
        uint32_t s = blk[k].start, e = blk[k].end;
        bool sane = seq_lt(s, e) && seq_leq(e, snd_max) && e - s <= (1u << 30);
        /* RFC 2883 §4: the first block reports a duplicate when it lies below the
         * cumulative ACK or inside the second block */
        if (k == 0 && sane) {
            bool below = seq_lt(s, una) && una - s <= (1u << 30);
            bool inside = nblk > 1 && seq_geq(s, blk[1].start) && seq_leq(e, blk[1].end) &&
                          seq_lt(blk[1].start, blk[1].end);
            if (below || inside) {
                if (ev->dsacks == 0) ev->dsack = blk[k];
                ev->dsacks++;
                if (below) ev->dsack_below = true;
                continue; /* a duplicate, not news about what is held */
            }
        }
        if (!sane || !seq_geq(s, una) || e - una > flight) {
            ev->bogus++;
            continue;
        }
        ev->applied++;
        apply_block(sb, s, e, fn, arg, ev);
    }
}

void tcp_sb_mark_lost(struct tcp_sb *sb, uint32_t i)
{
    struct tcp_sb_seg *e = tcp_sb_at(sb, i);
    if (e->flags & SB_SACKED) return;
    if ((e->flags & (SB_LOST | SB_RETRANS)) == SB_LOST) return;
    set_flags(sb, e, SB_LOST);
}

void tcp_sb_clear_sacked(struct tcp_sb *sb)
{
    for (uint32_t i = 0; i < sb->n; i++) {
        struct tcp_sb_seg *e = tcp_sb_at(sb, i);
        if (e->flags & SB_SACKED) set_flags(sb, e, 0);
    }
}

void tcp_sb_clear_lost(struct tcp_sb *sb)
{
    for (uint32_t i = 0; i < sb->n; i++) {
        struct tcp_sb_seg *e = tcp_sb_at(sb, i);
        if (e->flags & SB_LOST) set_flags(sb, e, 0);
    }
}

void tcp_sb_timeout(struct tcp_sb *sb)
{
    for (uint32_t i = 0; i < sb->n; i++)
        set_flags(sb, tcp_sb_at(sb, i), SB_LOST);
}

uint32_t tcp_sb_pipe(const struct tcp_sb *sb, uint32_t una, uint32_t snd_max)
{
    uint32_t out = seq_gt(snd_max, una) ? snd_max - una : 0;
    uint32_t gone = sb->sacked + sb->lost;
    return out > gone ? out - gone : 0;
}

int32_t tcp_sb_next_lost(const struct tcp_sb *sb)
{
    if (sb->lost == 0) return -1;
    for (uint32_t i = 0; i < sb->n; i++)
        if ((tcp_sb_at(sb, i)->flags & (SB_LOST | SB_RETRANS | SB_SACKED)) == SB_LOST)
            return (int32_t)i;
    return -1;
}
