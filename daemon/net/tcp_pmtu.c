/* Path MTU discovery for TCP (RFC 1191 §6.3, §6.5): every segment goes with DF set
 * (stack_tx_send); an ICMP "fragmentation needed" about one of them lowers the
 * connection's MSS, and what is in flight is sent again at the new size.
 *
 * The message is believed only when it quotes a segment of an existing connection whose
 * sequence number is in flight, SND.UNA <= SEG.SEQ < SND.MAX (RFC 5927 §4.1, §5.2): an
 * off-path attacker would have to guess it. SND.MAX rather than SND.NXT: after a timeout
 * rewound SND.NXT, the segments beyond it are still in the network. The path MTU never
 * goes below TCP_PMTU_MIN (Linux's min_pmtu, RFC 1191 §3's 68 being impractical: a
 * forged message of MTU 68 would cut the connection to 28-byte segments).
 *
 * IPv6 (RFC 8201): an ICMPv6 Packet Too Big is checked the same way against the quoted
 * segment; the MSS becomes MTU - 60, never below what the IPv6 minimum MTU (1280) gives. */
#include "tcp.h"

#include <string.h>

#include "bytes.h"

/* RFC 1191 §7: plateaus for a router that reports no next-hop MTU (RFC 792 format). */
static const uint16_t plateaus[] = {32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68};

uint16_t tcp_pmtu_guess(uint16_t tot_len)
{
    for (size_t i = 0; i < sizeof plateaus / sizeof plateaus[0]; i++)
        if (plateaus[i] < tot_len) return plateaus[i];
    return 68;
}

void tcp_pmtu_set_mss(struct stack *st, struct tcb *t, uint16_t mss)
{
    TRACE(st, "[TCP ] path MTU: mss %u -> %u, resend from seq=%u", t->snd_mss, mss, t->snd_una);
    t->snd_mss = mss;
    if (t->snd_una == t->snd_max) return; /* nothing in flight */
    /* Not a congestion signal (RFC 1191 §6.5): cwnd stays; the too-big segments were
     * dropped, so go back to SND.UNA and send again in segments of the new size, as the
     * window allows. No RTT sample from what is resent (Karn). */
    t->rtt_active = false;
    t->snd_nxt = t->snd_una;
    tcp_output(st, t);
}

/* The quoted segment (addresses, ports, sequence number) was ours and is in flight:
 * lower its connection's MSS to what mtu allows. Returns false when the quote is bogus. */
static bool pmtu_report(struct stack *st, struct ip_addr laddr, struct ip_addr raddr,
                        uint16_t lport, uint16_t rport, uint32_t seq, uint32_t mtu, uint32_t floor)
{
    tcp_enter(st);
    struct tcb *t = tcb_lookup(st, laddr, lport, raddr, rport);
    if (!t || t->state == TCP_SYN_SENT || t->state == TCP_SYN_RCVD ||
        !(seq_geq(seq, t->snd_una) && seq_lt(seq, t->snd_max))) {
        tcp_leave(st);
        return false;
    }
    if (mtu < floor) {
        st->stats.tcp_pmtu_floor++;
        mtu = floor;
    }
    uint32_t mss = mtu - (uint32_t)ipa_hdr_len(raddr) - TCP_HDR_LEN;
    if (mss >= t->snd_mss) {
        /* the path takes what we send now (an old message, or a larger MTU: RFC 1191 §3
         * raises it only by probing, which we do not do) */
        st->stats.tcp_pmtu_not_lower++;
        TRACE(st, "[TCP ] path MTU %u ignored: mss %u already fits", mtu, t->snd_mss);
        tcp_leave(st);
        return true;
    }
    st->stats.tcp_pmtu_lowered++;
    tcp_pmtu_set_mss(st, t, (uint16_t)mss);
    tcp_leave(st);
    return true;
}

void tcp_icmp_frag_needed(struct stack *st, const uint8_t *q, size_t qlen, uint16_t next_mtu)
{
    /* q: the quoted IP header of a segment we sent, then at least 8 bytes of TCP header */
    if (qlen < IPV4_HDR_LEN + 8 || (q[0] >> 4) != 4) goto bogus;
    size_t ihl = (size_t)(q[0] & 0x0f) * 4;
    if (ihl < IPV4_HDR_LEN || qlen < ihl + 8) goto bogus;
    if (q[9] != IP_PROTO_TCP || get32(q + 12) != st->cfg.addr) goto bogus;
    uint16_t mtu = next_mtu ? next_mtu : tcp_pmtu_guess(get16(q + 2));
    if (pmtu_report(st, ipa_from_v4(st->cfg.addr), ipa_from_v4(get32(q + 16)), get16(q + ihl),
                    get16(q + ihl + 2), get32(q + ihl + 4), mtu, TCP_PMTU_MIN))
        return;
bogus:
    st->stats.tcp_pmtu_bogus++;
    TRACE(st, "[TCP ] fragmentation needed ignored: no segment of ours in flight quoted");
}

void tcp_icmp6_packet_too_big(struct stack *st, const uint8_t *q, size_t qlen, uint32_t mtu)
{
    /* q: the quoted IPv6 packet; ours carry no extension header, the TCP header follows */
    if (qlen < 40 + 8 || (q[0] >> 4) != 6 || q[6] != IP_PROTO_TCP ||
        memcmp(q + 8, st->cfg.addr6, 16) != 0 || ipa_bytes_are_v4(q + 24))
        goto bogus;
    /* RFC 8201 §4: a report below the IPv6 minimum MTU is taken as the minimum */
    if (pmtu_report(st, ipa_from_v6(st->cfg.addr6), ipa_from_v6(q + 24), get16(q + 40),
                    get16(q + 42), get32(q + 44), mtu, 1280))
        return;
bogus:
    st->stats.tcp_pmtu_bogus++;
    TRACE(st, "[TCP ] packet too big ignored: no segment of ours in flight quoted");
}
