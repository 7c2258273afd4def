/* The sender's scoreboard (RFC 6675 §2-§4, RFC 8985 §5.2): one entry per segment sent and
 * not yet cumulatively acknowledged, in sequence order: its range, when it was last sent,
 * how often it was retransmitted, and whether the peer SACKed it or a loss detector marked
 * it lost. Fed by SACK blocks (RFC 2018); used by RACK (tcp_rack.c) and the SACK-based
 * recovery (tcp_recovery.c). Pure data structure: no stack state but the counters.
 *
 * Bounded per connection (TCP_SB_MAX entries, allocated as the flight grows): a segment
 * that finds the scoreboard full is not tracked (counted scoreboard_full); untracked data
 * counts as in flight and is repaired by the retransmission timer, never lost. */
#ifndef MINITCP_TCP_SB_H
#define MINITCP_TCP_SB_H

#include <stdbool.h>
#include <stdint.h>

#include "tcp_options.h"

#define TCP_SB_MAX 1024 /* entries per connection: 256 KiB of 256-byte segments */
#define TCP_SB_MIN 32   /* first allocation */

enum {
    SB_SACKED = 1,  /* the peer holds it (a SACK block covered it whole) */
    SB_LOST = 2,    /* a loss detector (RACK, RTO) says it is gone */
    SB_RETRANS = 4, /* sent again since it was marked lost (in flight again) */
};

struct tcp_sb_seg {
    uint32_t start, end; /* [start, end) */
    uint64_t xmit_ts;    /* last (re)transmission, ms */
    uint8_t flags;
    uint8_t rexmits; /* times sent again (saturates) */
};

struct tcp_sb {
    struct tcp_sb_seg *seg; /* circular, cap entries, n used from head */
    uint32_t cap, head, n;
    /* byte sums over the entries, kept up to date */
    uint32_t sacked, lost, retrans; /* retrans: bytes with SB_LOST|SB_RETRANS */
    uint32_t sacked_segs;
};

/* The i-th entry from the lowest. */
static inline struct tcp_sb_seg *tcp_sb_at(const struct tcp_sb *sb, uint32_t i)
{
    return &sb->seg[(sb->head + i) % sb->cap];
}

void tcp_sb_free(struct tcp_sb *sb);
/* Forgets every entry (the memory is kept). */
void tcp_sb_reset(struct tcp_sb *sb);
/* One past the last tracked byte; una when empty. */
uint32_t tcp_sb_end(const struct tcp_sb *sb, uint32_t una);

/* What tcp_sb_sent / tcp_sb_ack / tcp_sb_sack report. */
struct tcp_sb_ev {
    uint32_t delivered;              /* bytes newly acknowledged or SACKed */
    uint32_t newly_lost;             /* bytes marked lost */
    uint32_t applied, bogus, dsacks; /* SACK blocks */
    bool dsack_below; /* a D-SACK block lay below SND.UNA (data sent twice arrived twice) */
    struct tcp_sack_blk dsack; /* the first D-SACK block (valid when dsacks) */
    bool full;                 /* an entry could not be added or split */
};

/* [seq, seq + len) went out at now: appended when new (seq at the end of the tracked
 * range), else the entries it covers are marked sent again. Returns false when the bound
 * kept a new segment out of the scoreboard. */
bool tcp_sb_sent(struct tcp_sb *sb, uint32_t una, uint32_t seq, uint32_t len, uint64_t now);

/* Entries wholly below ack are acknowledged: fn(arg, entry) for each before it goes (the
 * RTT and RACK bookkeeping), then they are dropped; one straddling ack is trimmed. */
void tcp_sb_ack(struct tcp_sb *sb, uint32_t ack, void (*fn)(void *arg, const struct tcp_sb_seg *e),
                void *arg, struct tcp_sb_ev *ev);

/* A segment's SACK blocks against SND.UNA..SND.MAX (RFC 2018 §3, RFC 2883 §4): D-SACK
 * blocks recognised, blocks outside the range or empty or reversed ignored, the others
 * mark the entries they cover whole (splitting an entry a block edge cuts when room is
 * left). fn(arg, entry) for each newly SACKed entry. */
void tcp_sb_sack(struct tcp_sb *sb, uint32_t una, uint32_t snd_max, const struct tcp_sack_blk *blk,
                 uint8_t nblk, void (*fn)(void *arg, const struct tcp_sb_seg *e), void *arg,
                 struct tcp_sb_ev *ev);

/* Marks the i-th entry lost (when neither SACKed nor already lost-not-resent). */
void tcp_sb_mark_lost(struct tcp_sb *sb, uint32_t i);
/* RFC 2018 §8 after a timeout: SACKed marks cleared (the peer may have reneged), every
 * entry lost. */
void tcp_sb_timeout(struct tcp_sb *sb);
/* The peer discarded what it SACKed: every SACKed mark cleared. */
void tcp_sb_clear_sacked(struct tcp_sb *sb);
/* A loss proved spurious: every lost mark cleared (SACKed ones kept). */
void tcp_sb_clear_lost(struct tcp_sb *sb);

/* RFC 6675 §4 pipe over the tracked range, plus the untracked bytes up to snd_max: bytes
 * sent, not SACKed, not lost (or lost and sent again). */
uint32_t tcp_sb_pipe(const struct tcp_sb *sb, uint32_t una, uint32_t snd_max);
/* The lowest entry lost and not yet sent again, -1 when none. */
int32_t tcp_sb_next_lost(const struct tcp_sb *sb);
/* The first entry with an end beyond seq, n when none. */
uint32_t tcp_sb_lower(const struct tcp_sb *sb, uint32_t seq);
/* Cuts entry i at seq (inside it); false when the bound leaves no room. */
bool tcp_sb_split(struct tcp_sb *sb, uint32_t i, uint32_t seq);
/* The index of the entry holding seq, -1 when untracked. */
int32_t tcp_sb_find(const struct tcp_sb *sb, uint32_t seq);

#endif
