/* Selective acknowledgments, the receiver's side and the option's bytes.
 *
 *   (parsing)          tcp_opts_parse (tcp_options.c), RFC 2018 §3: kind 5, length 2 + 8n.
 *                      A length that is not of that form, or more than four blocks, is
 *                      ignored (the segment is kept) and counted in tcp_parse; the blocks
 *                      themselves are checked by the sender against SND.UNA..SND.MAX.
 *   tcp_sack_note_ooo  RFC 2018 §4: the block holding the most recent segment is reported
 *                      first, then the most recently reported other blocks.
 *   tcp_sack_note_dup  RFC 2883 §4: a duplicate segment (below RCV.NXT, or data already
 *                      held out of order) is reported once, as the first block; when it
 *                      lies inside a block held above RCV.NXT, that block follows it.
 *   tcp_sack_build     the option: NOP, NOP, kind 5, as many blocks as fit the room left
 *                      by the other options (4 alone, 3 beside timestamps). */
#include <string.h>

#include "bytes.h"
#include "tcp.h"

/* The out-of-order interval holding seq, or NULL. */
static const struct tcp_ooo *ooo_find(const struct tcb *t, uint32_t seq)
{
    for (uint8_t i = 0; i < t->n_ooo; i++)
        if (seq_between(seq, t->ooo[i].start, t->ooo[i].end)) return &t->ooo[i];
    return NULL;
}

void tcp_sack_note_ooo(struct tcb *t, uint32_t seq, uint32_t end)
{
    if (!t->sack_ok || seq == end) return;
    const struct tcp_ooo *mine = ooo_find(t, seq);
    uint32_t keep[TCP_SACK_MAX];
    uint8_t n = 0;
    keep[n++] = seq;
    /* the others, most recent first, once each (two may have merged into mine) */
    for (uint8_t i = 0; i < t->n_sack_recent && n < TCP_SACK_MAX; i++) {
        const struct tcp_ooo *o = ooo_find(t, t->sack_recent[i]);
        if (!o || o == mine) continue;
        bool dup = false;
        for (uint8_t j = 1; j < n; j++)
            if (ooo_find(t, keep[j]) == o) dup = true;
        if (!dup) keep[n++] = t->sack_recent[i];
    }
    memcpy(t->sack_recent, keep, n * sizeof keep[0]);
    t->n_sack_recent = n;
}

void tcp_sack_note_dup(struct stack *st, struct tcb *t, uint32_t seq, uint32_t end)
{
    if (!t->sack_ok || seq == end) return;
    t->dsack.start = seq;
    t->dsack.end = end;
    t->dsack_pending = true;
    st->stats.tcp_dsack_sent++;
}

/* The blocks of the next option, the first one first; returns how many (<= max). */
static uint8_t sack_blocks(const struct tcb *t, struct tcp_sack_blk *b, uint8_t max)
{
    uint8_t n = 0;
    const struct tcp_ooo *used[TCP_SACK_MAX];
    uint8_t nused = 0;
    if (max == 0) return 0;
    if (t->dsack_pending) {
        b[n++] = t->dsack;
        /* RFC 2883 §4 (2): the block the duplicate came from, when it is held above RCV.NXT */
        const struct tcp_ooo *o = ooo_find(t, t->dsack.start);
        if (o && n < max) {
            b[n].start = o->start;
            b[n].end = o->end;
            n++;
            used[nused++] = o;
        }
    }
    for (uint8_t i = 0; i < t->n_sack_recent && n < max; i++) {
        const struct tcp_ooo *o = ooo_find(t, t->sack_recent[i]);
        bool seen = !o;
        for (uint8_t j = 0; j < nused && !seen; j++)
            seen = used[j] == o;
        if (seen) continue;
        b[n].start = o->start;
        b[n].end = o->end;
        n++;
        used[nused++] = o;
    }
    /* blocks never reported yet (the list keeps the four latest): highest first */
    for (uint8_t i = t->n_ooo; i-- > 0 && n < max;) {
        const struct tcp_ooo *o = &t->ooo[i];
        bool seen = false;
        for (uint8_t j = 0; j < nused && !seen; j++)
            seen = used[j] == o;
        if (seen) continue;
        b[n].start = o->start;
        b[n].end = o->end;
        n++;
        if (nused < TCP_SACK_MAX) used[nused++] = o;
    }
    return n;
}

static uint8_t room_blocks(size_t room)
{
    if (room < 12) return 0;
    size_t n = (room - 4) / 8;
    return (uint8_t)(n > TCP_SACK_MAX ? TCP_SACK_MAX : n);
}

size_t tcp_sack_optlen(const struct tcb *t, size_t room)
{
    if (!t->sack_ok || (t->n_ooo == 0 && !t->dsack_pending)) return 0;
    struct tcp_sack_blk b[TCP_SACK_MAX];
    uint8_t n = sack_blocks(t, b, room_blocks(room));
    return n ? 4 + 8u * n : 0;
}

size_t tcp_sack_build(struct tcb *t, uint8_t *opt, size_t room)
{
    if (!t->sack_ok || (t->n_ooo == 0 && !t->dsack_pending)) return 0;
    struct tcp_sack_blk b[TCP_SACK_MAX];
    uint8_t n = sack_blocks(t, b, room_blocks(room));
    if (n == 0) return 0;
    opt[0] = 1; /* NOP, NOP: the blocks 4-byte aligned */
    opt[1] = 1;
    opt[2] = 5;
    opt[3] = (uint8_t)(2 + 8 * n);
    for (uint8_t i = 0; i < n; i++) {
        put32(opt + 4 + 8 * i, b[i].start);
        put32(opt + 8 + 8 * i, b[i].end);
    }
    t->dsack_pending = false; /* a duplicate is reported once (RFC 2883 §4) */
    return 4 + 8u * n;
}
