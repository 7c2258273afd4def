/* Sequence-number arithmetic modulo 2^32 (daemon/net/seq.h). */
#include <criterion/criterion.h>

#include "seq.h"

Test(seq, ordinary_order)
{
    cr_assert(seq_lt(1, 2));
    cr_assert(!seq_lt(2, 2));
    cr_assert(seq_leq(2, 2));
    cr_assert(seq_gt(3, 2));
    cr_assert(!seq_gt(2, 2));
    cr_assert(seq_geq(2, 2));
    cr_assert(!seq_geq(1, 2));
}

Test(seq, across_the_wrap)
{
    cr_assert(seq_lt(0xfffffff0u, 0x10u));
    cr_assert(seq_gt(0x10u, 0xfffffff0u));
    cr_assert(seq_leq(0xffffffffu, 0u));
    cr_assert(seq_lt(0xffffffffu, 0u));
    cr_assert(seq_geq(0u, 0xffffffffu));
    cr_assert_eq(seq_max(0xfffffff0u, 5u), 5u);
    cr_assert_eq(seq_min(0xfffffff0u, 5u), 0xfffffff0u);
}

Test(seq, half_space_boundary)
{
    /* b less than 2^31 ahead of a is "after" a */
    cr_assert(seq_lt(0u, 0x7fffffffu));
    cr_assert(seq_gt(0u, 0x80000001u)); /* 2^31 + 1 ahead is behind */
}

Test(seq, between_is_half_open_and_wraps)
{
    cr_assert(seq_between(5, 5, 10));
    cr_assert(!seq_between(10, 5, 10));
    cr_assert(!seq_between(4, 5, 10));
    cr_assert(seq_between(0xffffffffu, 0xfffffff0u, 0x10u));
    cr_assert(seq_between(0u, 0xfffffff0u, 0x10u));
    cr_assert(seq_between(0xfu, 0xfffffff0u, 0x10u));
    cr_assert(!seq_between(0x10u, 0xfffffff0u, 0x10u));
    cr_assert(!seq_between(7, 7, 7), "an empty range holds nothing");
}
