/* Receive credit: how much the daemon may push to a client for one socket, and how the
 * client returns it. Both ends and the stack core (daemon/net/udp.c) include this file, so
 * a datagram costs the same everywhere (docs/ipc.md "Flow control").
 *
 * The invariant, with W the window the client granted so far:
 *     sender.avail + (cost pushed, not yet returned) == W
 * The sender (the daemon) pushes only while avail > 0 and charges each push its full cost,
 * so avail may go negative by less than one datagram's cost; the receiver (the library)
 * returns exactly the cost of what the application consumed. Hence the client never holds
 * more than W + one datagram's cost, and avail never exceeds W. Pure: no allocation. */
#ifndef MINITCP_PROTO_CREDIT_H
#define MINITCP_PROTO_CREDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fixed charge per datagram on top of its payload, as Linux charges an skb's truesize: an
 * empty datagram still costs queue memory (the core's queue entry, a frame header in the
 * daemon's output, a record in the library's ring; each is below this). */
#define CREDIT_DGRAM_OVERHEAD 64u

/* len is at most 65535 (a UDP payload), so the cost fits a u32. */
static inline uint32_t credit_dgram_cost(size_t len)
{
    return (uint32_t)len + CREDIT_DGRAM_OVERHEAD;
}

/* The pushing side (daemon). avail is signed: a datagram goes out whole while any credit is
 * left, and the overshoot is owed back before the next one. */
struct credit_sender {
    int64_t avail;
};

void proto_credit_sender_init(struct credit_sender *c, uint32_t window);
/* May anything be pushed now? */
bool proto_credit_may_push(const struct credit_sender *c);
/* Stream bytes that may be pushed now (0 when none), at most max. */
uint32_t proto_credit_stream_limit(const struct credit_sender *c, uint32_t max);
/* Records a push of cost bytes (a stream's bytes, or credit_dgram_cost). */
void proto_credit_charge(struct credit_sender *c, uint32_t cost);
/* The client returned n. -1 (nothing changed) when that would exceed max, the largest
 * window a client may grant: it returned more than it was ever charged. */
int proto_credit_refund(struct credit_sender *c, uint32_t n, uint32_t max);

/* The consuming side (library). owed is what the application consumed and the daemon has
 * not been told yet; negative after the window shrank (future credit is withheld). */
struct credit_receiver {
    uint32_t window;
    int64_t owed;
};

void proto_credit_receiver_init(struct credit_receiver *r, uint32_t window);
/* The application consumed cost; returns the credit to send the daemon now (0: keep it
 * until half the window is owed, so credit frames stay few). */
uint32_t proto_credit_consume(struct credit_receiver *r, uint32_t cost);
/* A new window (SO_RCVBUF): growth is granted at once (returned), a shrink is withheld from
 * later returns. */
uint32_t proto_credit_resize(struct credit_receiver *r, uint32_t window);

#endif
