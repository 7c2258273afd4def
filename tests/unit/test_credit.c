/* proto/credit: the receive-credit invariant shared by the daemon and the library. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "credit.h"
#include "frames.h"

Test(credit, dgram_cost_has_fixed_overhead)
{
    cr_assert_eq(credit_dgram_cost(0), CREDIT_DGRAM_OVERHEAD);
    cr_assert_eq(credit_dgram_cost(1), CREDIT_DGRAM_OVERHEAD + 1);
    cr_assert_eq(credit_dgram_cost(65507), 65507 + CREDIT_DGRAM_OVERHEAD);
}

Test(credit, sender_pushes_while_positive_and_goes_negative_by_the_overshoot)
{
    struct credit_sender c;
    proto_credit_sender_init(&c, 4096);
    cr_assert(proto_credit_may_push(&c));
    proto_credit_charge(&c, credit_dgram_cost(1400)); /* 4096 - 1464 = 2632 */
    proto_credit_charge(&c, credit_dgram_cost(1400)); /* 1168 */
    cr_assert_eq(c.avail, 1168);
    cr_assert(proto_credit_may_push(&c));
    proto_credit_charge(&c, credit_dgram_cost(1400)); /* the whole datagram, not clamped to 0 */
    cr_assert_eq(c.avail, -296);
    cr_assert_not(proto_credit_may_push(&c));
    cr_assert_eq(proto_credit_stream_limit(&c, 65536), 0);
    /* 296 back is not enough to push: exactly 0 */
    cr_assert_eq(proto_credit_refund(&c, 296, PROTO_MAX_RCV_WINDOW), 0);
    cr_assert_eq(c.avail, 0);
    cr_assert_not(proto_credit_may_push(&c));
    cr_assert_eq(proto_credit_refund(&c, 1, PROTO_MAX_RCV_WINDOW), 0);
    cr_assert(proto_credit_may_push(&c));
}

Test(credit, stream_limit)
{
    struct credit_sender c;
    proto_credit_sender_init(&c, 100000);
    cr_assert_eq(proto_credit_stream_limit(&c, 65536), 65536);
    proto_credit_charge(&c, 65536);
    cr_assert_eq(proto_credit_stream_limit(&c, 65536), 100000 - 65536);
    proto_credit_charge(&c, 100000 - 65536);
    cr_assert_eq(proto_credit_stream_limit(&c, 65536), 0);
    cr_assert_eq(c.avail, 0);
}

Test(credit, refund_beyond_max_refused_unchanged)
{
    struct credit_sender c;
    proto_credit_sender_init(&c, PROTO_DEFAULT_RCV_WINDOW);
    cr_assert_eq(proto_credit_refund(&c, PROTO_MAX_RCV_WINDOW - PROTO_DEFAULT_RCV_WINDOW,
                                     PROTO_MAX_RCV_WINDOW),
                 0);
    cr_assert_eq(c.avail, PROTO_MAX_RCV_WINDOW);
    cr_assert_eq(proto_credit_refund(&c, 1, PROTO_MAX_RCV_WINDOW), -1);
    cr_assert_eq(c.avail, PROTO_MAX_RCV_WINDOW);
    cr_assert_eq(proto_credit_refund(&c, UINT32_MAX, PROTO_MAX_RCV_WINDOW), -1);
    /* a negative balance may take back more than max minus nothing */
    proto_credit_sender_init(&c, 0);
    proto_credit_charge(&c, 70000);
    cr_assert_eq(proto_credit_refund(&c, PROTO_MAX_RCV_WINDOW + 70000, PROTO_MAX_RCV_WINDOW), 0);
    cr_assert_eq(c.avail, PROTO_MAX_RCV_WINDOW);
}

Test(credit, receiver_returns_at_half_window_exactly_what_was_consumed)
{
    struct credit_receiver r;
    proto_credit_receiver_init(&r, 4096);
    cr_assert_eq(proto_credit_consume(&r, 1000), 0);
    cr_assert_eq(proto_credit_consume(&r, 1000), 0);
    cr_assert_eq(proto_credit_consume(&r, 48), 2048);
    cr_assert_eq(r.owed, 0);
    /* one oversized datagram: returned whole, at once */
    cr_assert_eq(proto_credit_consume(&r, credit_dgram_cost(65507)), 65507 + CREDIT_DGRAM_OVERHEAD);
    cr_assert_eq(proto_credit_consume(&r, 0), 0);
}

Test(credit, receiver_resize)
{
    struct credit_receiver r;
    proto_credit_receiver_init(&r, PROTO_DEFAULT_RCV_WINDOW);
    cr_assert_eq(proto_credit_consume(&r, 100), 0);
    /* growth: the difference and what is owed go out now */
    cr_assert_eq(proto_credit_resize(&r, PROTO_DEFAULT_RCV_WINDOW + 1000), 1100);
    cr_assert_eq(r.owed, 0);
    /* shrink to 4096: the next 1000 + 256 KiB - 4096 consumed are withheld */
    cr_assert_eq(proto_credit_resize(&r, 4096), 0);
    cr_assert_eq(r.owed, -(int64_t)(PROTO_DEFAULT_RCV_WINDOW + 1000 - 4096));
    cr_assert_eq(proto_credit_consume(&r, PROTO_DEFAULT_RCV_WINDOW + 1000 - 4096), 0);
    cr_assert_eq(r.owed, 0);
    cr_assert_eq(proto_credit_consume(&r, 2047), 0);
    cr_assert_eq(proto_credit_consume(&r, 1), 2048);
    /* a grow that does not cover what is withheld sends nothing */
    proto_credit_resize(&r, 4096 + 10000);
    cr_assert_eq(r.owed, 0);
    cr_assert_eq(proto_credit_resize(&r, 4096), 0);
    cr_assert_eq(proto_credit_resize(&r, 8000), 0);
    cr_assert_eq(r.owed, -(int64_t)(10000 - 3904));
}

/* The two ends together, as the daemon and the library run them: random datagram sizes
 * (many larger than the window), a reader that takes a random number at a time, a window
 * resized now and then. Invariant after every step: avail + unreturned == window in force,
 * avail <= window, the receiver holds at most window + one datagram's cost, and the
 * sender never sees a refund it must refuse (the client is never disconnected). */
Test(credit, end_to_end_invariant_random)
{
    srand(12345);
    enum { QMAX = 4096 };
    static uint32_t q[QMAX]; /* costs of datagrams delivered to the receiver, unread */
    size_t qh = 0, qn = 0;
    struct credit_sender s;
    struct credit_receiver r;
    uint32_t w = 4096;
    proto_credit_sender_init(&s, w);
    proto_credit_receiver_init(&r, w);
    int64_t held = 0, in_flight_refund = 0, max_held = 0;
    for (int step = 0; step < 200000; step++) {
        int op = rand() % 16;
        if (op < 9) { /* the daemon pushes one datagram if it may */
            if (!proto_credit_may_push(&s) || qn == QMAX) continue;
            uint32_t len = rand() % 4 ? (uint32_t)(rand() % 1472) : (uint32_t)(rand() % 65508);
            uint32_t cost = credit_dgram_cost(len);
            proto_credit_charge(&s, cost);
            q[(qh + qn++) % QMAX] = cost;
            held += cost;
        } else if (op < 15) { /* the application reads one */
            if (!qn) continue;
            uint32_t cost = q[qh];
            qh = (qh + 1) % QMAX;
            qn--;
            held -= cost;
            uint32_t back = proto_credit_consume(&r, cost);
            in_flight_refund += back;
        } else { /* the application sets a new window, or the refund frame arrives */
            if (rand() % 4 == 0) {
                w = 4096 + (uint32_t)(rand() % (256 * 1024));
                in_flight_refund += proto_credit_resize(&r, w);
            }
        }
        if (rand() % 3 == 0 && in_flight_refund) {
            cr_assert_eq(proto_credit_refund(&s, (uint32_t)in_flight_refund, PROTO_MAX_RCV_WINDOW),
                         0, "step %d: refused refund", step);
            in_flight_refund = 0;
        }
        /* what the receiver has consumed but withheld or not yet sent is r.owed */
        cr_assert_eq(s.avail + held + r.owed + in_flight_refund, (int64_t)r.window,
                     "step %d: credit drifted", step);
        if (held > max_held) max_held = held;
    }
    cr_assert_leq(max_held, 4096 + 256 * 1024 + credit_dgram_cost(65507));
}
