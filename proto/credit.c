#include "credit.h"

void proto_credit_sender_init(struct credit_sender *c, uint32_t window)
{
    c->avail = window;
}

bool proto_credit_may_push(const struct credit_sender *c)
{
    return c->avail > 0;
}

uint32_t proto_credit_stream_limit(const struct credit_sender *c, uint32_t max)
{
    if (c->avail <= 0) return 0;
    return c->avail < (int64_t)max ? (uint32_t)c->avail : max;
}

void proto_credit_charge(struct credit_sender *c, uint32_t cost)
{
    c->avail -= cost;
}

int proto_credit_refund(struct credit_sender *c, uint32_t n, uint32_t max)
{
    if (c->avail + (int64_t)n > (int64_t)max) return -1;
    c->avail += n;
    return 0;
}

void proto_credit_receiver_init(struct credit_receiver *r, uint32_t window)
{
    r->window = window;
    r->owed = 0;
}

static uint32_t take_owed(struct credit_receiver *r)
{
    /* owed never exceeds window + one cost (< 2^32) between returns */
    uint32_t n = (uint32_t)r->owed;
    r->owed = 0;
    return n;
}

uint32_t proto_credit_consume(struct credit_receiver *r, uint32_t cost)
{
    r->owed += cost;
    if (r->owed > 0 && (uint64_t)r->owed >= r->window / 2) return take_owed(r);
    return 0;
}

uint32_t proto_credit_resize(struct credit_receiver *r, uint32_t window)
{
    int64_t delta = (int64_t)window - (int64_t)r->window;
    r->window = window;
    r->owed += delta;
    return delta > 0 && r->owed > 0 ? take_owed(r) : 0;
}
