/* The per-session socket-id table (daemon/sock_table.c): grows on demand, reuses freed
 * entries first in first out, and a closed socket's id never names a later socket. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "sock_table.h"

static int objs[SOCK_TABLE_MAX + 1];

Test(sock_table, starts_empty_and_grows_by_doubling)
{
    struct sock_table t = {0};
    int full = -1;
    cr_assert_eq(sock_table_bytes(&t), 0);
    uint32_t id = sock_table_add(&t, &objs[0], &full);
    cr_assert_eq(full, 0);
    cr_assert_eq(id, 1u << 16 | 1); /* generation 1, index 0 */
    cr_assert_eq(t.cap, 8);
    for (int i = 1; i < 9; i++)
        cr_assert_neq(sock_table_add(&t, &objs[i], &full), 0);
    cr_assert_eq(t.cap, 16);
    cr_assert_eq(t.n, 9);
    cr_assert_eq(sock_table_get(&t, id), &objs[0]);
    sock_table_fini(&t);
}

Test(sock_table, freed_entries_are_reused_in_order_with_a_new_generation)
{
    struct sock_table t = {0};
    int full;
    uint32_t ids[8];
    for (int i = 0; i < 8; i++)
        ids[i] = sock_table_add(&t, &objs[i], &full);
    cr_assert_eq(t.cap, 8); /* exactly full, not grown */
    sock_table_del(&t, ids[5]);
    sock_table_del(&t, ids[2]);
    cr_assert_null(sock_table_get(&t, ids[5]));
    cr_assert_null(sock_table_get(&t, ids[2]));
    /* first freed, first reused: index 5, then 2; generation 2 */
    uint32_t a = sock_table_add(&t, &objs[10], &full);
    uint32_t b = sock_table_add(&t, &objs[11], &full);
    cr_assert_eq(a, 2u << 16 | 6);
    cr_assert_eq(b, 2u << 16 | 3);
    cr_assert_eq(t.cap, 8); /* reused, not grown */
    /* the stale ids name nothing even though their indexes are taken again */
    cr_assert_null(sock_table_get(&t, ids[5]));
    cr_assert_null(sock_table_get(&t, ids[2]));
    cr_assert_eq(sock_table_get(&t, a), &objs[10]);
    /* deleting a stale id leaves the new owner alone */
    sock_table_del(&t, ids[5]);
    cr_assert_eq(sock_table_get(&t, a), &objs[10]);
    cr_assert_eq(t.n, 8);
    sock_table_fini(&t);
}

Test(sock_table, bad_ids_name_nothing)
{
    struct sock_table t = {0};
    int full;
    uint32_t id = sock_table_add(&t, &objs[0], &full);
    cr_assert_null(sock_table_get(&t, 0));
    cr_assert_null(sock_table_get(&t, 0xffffffffu));
    cr_assert_null(sock_table_get(&t, (id & 0xffff0000u) | 9)); /* beyond cap */
    cr_assert_null(sock_table_get(&t, id + (1u << 16)));        /* wrong generation */
    cr_assert_null(sock_table_get(&t, id & 0xffffu));           /* generation 0 */
    sock_table_fini(&t);
}

Test(sock_table, limit_is_emfile_and_a_free_entry_is_taken_again)
{
    struct sock_table t = {0};
    int full;
    static uint32_t ids[SOCK_TABLE_MAX];
    for (uint32_t i = 0; i < SOCK_TABLE_MAX; i++) {
        ids[i] = sock_table_add(&t, &objs[i], &full);
        cr_assert_neq(ids[i], 0);
    }
    cr_assert_eq(t.cap, SOCK_TABLE_MAX);
    cr_assert_eq(sock_table_add(&t, &objs[SOCK_TABLE_MAX], &full), 0);
    cr_assert_eq(full, 1);
    sock_table_del(&t, ids[1234]);
    uint32_t id = sock_table_add(&t, &objs[SOCK_TABLE_MAX], &full);
    cr_assert_eq(id, 2u << 16 | 1235);
    cr_assert_eq(sock_table_get(&t, id), &objs[SOCK_TABLE_MAX]);
    sock_table_fini(&t);
}

Test(sock_table, emptied_table_is_given_back_and_old_ids_stay_dead)
{
    struct sock_table t = {0};
    int full;
    uint32_t ids[100];
    for (int i = 0; i < 100; i++)
        ids[i] = sock_table_add(&t, &objs[i], &full);
    cr_assert_eq(t.cap, 128);
    sock_table_del(&t, ids[7]);
    sock_table_add(&t, &objs[7], &full); /* index 100 (FIFO), generation 1 */
    sock_table_del(&t, ids[8]);
    uint32_t g2 = sock_table_add(&t, &objs[8], &full);
    (void)g2;
    for (int i = 0; i < 100; i++)
        sock_table_del(&t, ids[i]);
    /* 98 of the original ids were deleted above plus the two re-added entries remain */
    cr_assert_eq(t.n, 2);
    for (uint32_t i = 0; i < t.cap; i++)
        if (t.e[i].obj) sock_table_del(&t, (uint32_t)t.e[i].gen << 16 | (i + 1));
    cr_assert_eq(t.n, 0);
    cr_assert_eq(t.cap, 0);
    cr_assert_null(t.e);
    cr_assert_eq(sock_table_bytes(&t), 0);
    /* a fresh start: generations above any issued before */
    uint32_t id = sock_table_add(&t, &objs[0], &full);
    cr_assert_eq(id & 0xffffu, 1);
    cr_assert_gt(id >> 16, 1);
    for (int i = 0; i < 100; i++)
        cr_assert_null(sock_table_get(&t, ids[i]));
    sock_table_fini(&t);
}

Test(sock_table, one_busy_socket_cycles_generations_not_one_index)
{
    /* open/close churn beside one long-lived socket: FIFO reuse spreads it over the free
     * entries, so 1000 cycles never come back to an id already issued */
    struct sock_table t = {0};
    int full;
    uint32_t keep = sock_table_add(&t, &objs[0], &full);
    static uint32_t seen[1000];
    for (int i = 0; i < 1000; i++) {
        seen[i] = sock_table_add(&t, &objs[1], &full);
        for (int j = 0; j < i; j++)
            cr_assert_neq(seen[j], seen[i]);
        sock_table_del(&t, seen[i]);
    }
    cr_assert_eq(t.cap, 8);
    cr_assert_eq(sock_table_get(&t, keep), &objs[0]);
    sock_table_fini(&t);
}
