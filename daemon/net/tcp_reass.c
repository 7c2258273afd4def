/* The out-of-order store. Out-of-order bytes are written straight into the receive
 * ring past its tail, at their offset from RCV.NXT, so the store is bounded by the
 * receive buffer itself (it can always hold a full advertised window) and data is copied
 * once. This file keeps the sorted list of received intervals beyond RCV.NXT: overlaps
 * merge (the overlapping bytes are identical or, if a peer lies, the later copy wins),
 * exact duplicates are counted and dropped, and when RCV.NXT reaches an interval it is
 * committed to the stream at once. */
#include <stdlib.h>
#include <string.h>

#include "tcp.h"

bool tcp_reass_store(struct stack *st, struct tcb *t, uint32_t seq, const uint8_t *data,
                     uint32_t len, bool fin)
{
    uint32_t end = seq + len;
    if (!t->ooo) {
        t->ooo = malloc(TCP_OOO_MAX * sizeof *t->ooo);
        if (!t->ooo) return false;
        t->n_ooo = 0;
    }
    if (len && !ring_reserve_at(&t->rcvq, seq - t->rcv_nxt, len, true)) {
        st->stats.mem_rcv_dropped++; /* not acknowledged: the peer sends it again */
        return false;
    }
    /* first interval that ends at or after seq (touching counts: adjacent ones merge) */
    uint32_t i = 0;
    while (i < t->n_ooo && seq_lt(t->ooo[i].end, seq))
        i++;
    if (len && i < t->n_ooo && seq_leq(t->ooo[i].start, seq) && seq_geq(t->ooo[i].end, end)) {
        st->stats.tcp_dup_segments++; /* nothing new */
        t->dup_segs_rcvd++;
        tcp_sack_note_dup(st, t, seq, end);
    } else if (len) {
        /* intervals i..j-1 overlap or touch [seq, end) */
        uint32_t j = i;
        uint32_t s = seq, e = end;
        while (j < t->n_ooo && seq_leq(t->ooo[j].start, end)) {
            s = seq_min(s, t->ooo[j].start);
            e = seq_max(e, t->ooo[j].end);
            j++;
        }
        if (j == i && t->n_ooo >= TCP_OOO_MAX) {
            st->stats.tcp_ooo_dropped++;
            return false;
        }
        ring_write_at(&t->rcvq, seq - t->rcv_nxt, data, len);
        if (j == i) {
            memmove(&t->ooo[i + 1], &t->ooo[i], (t->n_ooo - i) * sizeof *t->ooo);
            t->n_ooo++;
        } else if (j > i + 1) {
            memmove(&t->ooo[i + 1], &t->ooo[j], (t->n_ooo - j) * sizeof *t->ooo);
            t->n_ooo = (uint8_t)(t->n_ooo - (j - i - 1));
        }
        t->ooo[i].start = s;
        t->ooo[i].end = e;
        st->stats.tcp_ooo_segments++;
        tcp_sack_note_ooo(t, seq, end);
    }
    if (fin) {
        t->ooo_fin = true;
        t->ooo_fin_seq = end;
    }
    return true;
}

uint32_t tcp_reass_splice(struct tcb *t, bool *fin)
{
    uint32_t total = 0;
    while (t->n_ooo && seq_leq(t->ooo[0].start, t->rcv_nxt)) {
        if (seq_gt(t->ooo[0].end, t->rcv_nxt)) {
            uint32_t n = t->ooo[0].end - t->rcv_nxt;
            ring_commit(&t->rcvq, n);
            t->rcv_nxt += n;
            total += n;
        }
        t->n_ooo--;
        memmove(&t->ooo[0], &t->ooo[1], t->n_ooo * sizeof *t->ooo);
    }
    if (t->ooo_fin && t->ooo_fin_seq == t->rcv_nxt) {
        t->ooo_fin = false;
        *fin = true;
    }
    return total;
}

void tcp_reass_free(struct tcb *t)
{
    free(t->ooo);
    t->ooo = NULL;
    t->n_ooo = 0;
    t->ooo_fin = false;
    t->n_sack_recent = 0;
    t->dsack_pending = false;
    ring_drop_ahead(&t->rcvq);
}
