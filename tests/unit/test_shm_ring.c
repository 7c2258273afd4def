/* proto/shm_ring.c and shm_map.c: the shared rings between minitcpd and the library, on a
 * real sealed memfd mapped twice by "both sides" (two mappings in this process): exact
 * bytes and indices across the wrap, truncated frames, corrupt indices, wake-up flags,
 * seals and size checks. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shm_map.h"

#define SZ SHM_RING_MIN

static int fd = -1;
static struct shm_area cli, dmn; /* the client's mapping and the daemon's */

static void setup(void)
{
    fd = shm_area_create(SZ);
    cr_assert_geq(fd, 0);
    cr_assert_eq(shm_area_map(&cli, fd, SZ, 1), 0);
    cr_assert_eq(shm_area_map(&dmn, fd, SZ, 1), 0);
}

static void teardown(void)
{
    shm_area_unmap(&cli);
    shm_area_unmap(&dmn);
    close(fd);
}

/* Both sides' private indices and the shared ones at `at`, as after `at` bytes moved. */
static void start_at(struct shm_ring *prod, struct shm_ring *cons, uint32_t at)
{
    prod->head = prod->pub = at;
    cons->tail = at;
    atomic_store(&prod->c->head, at);
    atomic_store(&prod->c->tail, at);
}

TestSuite(shm_ring, .init = setup, .fini = teardown);

Test(shm_ring, layout)
{
    cr_assert_eq(sizeof(struct shm_ctrl), 192);
    cr_assert_eq(offsetof(struct shm_ctrl, tail), 64);
    cr_assert_eq(offsetof(struct shm_ctrl, consumer_sleeping), 128);
    cr_assert_eq(SHM_CTRL_D2C - SHM_CTRL_C2D, 256);
    cr_assert_eq(SHM_FILE_SIZE(SZ), 4096 + 2 * 262144);
    cr_assert_eq(SHM_DATA_D2C(SZ), 4096 + 262144);
    /* the header as the client wrote it: "MTSR", version 1, ring size */
    const uint8_t want[12] = {'M', 'T', 'S', 'R', 1, 0, 0, 0, 0x00, 0x00, 0x04, 0x00};
    cr_assert_eq(memcmp(cli.base, want, sizeof want), 0);
    cr_assert(shm_ring_size_ok(SZ));
    cr_assert_not(shm_ring_size_ok(SZ / 2));
    cr_assert_not(shm_ring_size_ok(SZ + 4096));
    cr_assert_not(shm_ring_size_ok(2 * SHM_RING_MAX));
}

Test(shm_ring, a_frame_across_the_end_is_whole_in_both_views)
{
    struct shm_ring *p = &cli.c2d, *c = &dmn.c2d;
    start_at(p, c, 3 * SZ - 10); /* 10 bytes before the end, third lap */
    struct proto_msg m = {.h = {.type = PT_DATA, .sock_id = 7}};
    uint8_t pay[30];
    for (int i = 0; i < 30; i++)
        pay[i] = (uint8_t)(0xa0 + i);
    m.u.data.ptr = pay;
    m.u.data.len = 30;
    uint8_t *w = shm_ring_reserve(p, 50);
    cr_assert_eq(w, p->data + SZ - 10);
    cr_assert_eq(proto_encode(&m, w, 50), 50);
    shm_ring_commit(p, 50);
    cr_assert_eq(p->head, 3 * SZ + 40);
    cr_assert_eq(atomic_load(&p->c->head), 3 * SZ - 10, "not published before publish");
    cr_assert_not(shm_ring_publish(p), "nobody sleeps: no wake-up");
    cr_assert_eq(atomic_load(&p->c->head), 3 * SZ + 40);
    /* the bytes sit at the end and the start of the one ring */
    const uint8_t hdr[10] = {'M', 'T', 1, 0x20, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(memcmp(dmn.c2d.data + SZ - 10, hdr, 10), 0);
    cr_assert_eq(dmn.c2d.data[0], 0);  /* req_id's last two bytes, sock_id... */
    cr_assert_eq(dmn.c2d.data[2], 7);  /* sock_id = 7 at frame offset 12 */
    cr_assert_eq(dmn.c2d.data[6], 30); /* len = 30 at frame offset 16 */
    cr_assert_eq(memcmp(dmn.c2d.data + 10, pay, 30), 0);
    /* the daemon decodes it in place, contiguous through the mirror */
    cr_assert_eq(shm_ring_avail(c), 50);
    struct proto_msg r;
    size_t fl;
    cr_assert_eq(shm_ring_next(c, &r, &fl), SHM_OK);
    cr_assert_eq(fl, 50);
    cr_assert_eq(r.h.type, PT_DATA);
    cr_assert_eq(r.h.sock_id, 7);
    cr_assert_eq(r.u.data.len, 30);
    cr_assert_eq(r.u.data.ptr, c->data + SZ + 10, "payload read through the second view");
    cr_assert_eq(memcmp(r.u.data.ptr, pay, 30), 0);
    cr_assert_not(shm_ring_consume(c, 50));
    cr_assert_eq(c->tail, 3 * SZ + 40);
    cr_assert_eq(atomic_load(&c->c->tail), 3 * SZ + 40);
    cr_assert_eq(shm_ring_next(c, &r, &fl), SHM_EAGAIN);
    cr_assert_eq(shm_ring_space(p), SZ);
}

Test(shm_ring, a_truncated_frame_waits_for_the_rest)
{
    struct shm_ring *p = &dmn.d2c, *c = &cli.d2c;
    struct proto_msg m = {.h = {.type = PT_SEND_CREDIT, .sock_id = 3}};
    m.u.credit.n = 65536;
    uint8_t *w = shm_ring_reserve(p, 24);
    cr_assert_eq(proto_encode(&m, w, 24), 24);
    shm_ring_commit(p, 20); /* the header only */
    shm_ring_publish(p);
    struct proto_msg r;
    size_t fl;
    cr_assert_eq(shm_ring_next(c, &r, &fl), SHM_EAGAIN);
    cr_assert_eq(c->tail, 0);
    shm_ring_commit(p, 4);
    shm_ring_publish(p);
    cr_assert_eq(shm_ring_next(c, &r, &fl), SHM_OK);
    cr_assert_eq(fl, 24);
    cr_assert_eq(r.u.credit.n, 65536);
}

Test(shm_ring, impossible_indices_are_corrupt)
{
    struct shm_ring *p = &cli.c2d, *c = &dmn.c2d;
    start_at(p, c, 1000);
    atomic_store(&p->c->head, 1000 + SZ); /* exactly full: allowed */
    cr_assert_eq(shm_ring_avail(c), SZ);
    atomic_store(&p->c->head, 1000 + SZ + 1);
    cr_assert_eq(shm_ring_avail(c), SHM_ECORRUPT);
    struct proto_msg r;
    size_t fl;
    cr_assert_eq(shm_ring_next(c, &r, &fl), SHM_ECORRUPT);
    atomic_store(&p->c->head, 999); /* behind our tail */
    cr_assert_eq(shm_ring_next(c, &r, &fl), SHM_ECORRUPT);
    /* a frame header claiming more than 64 KiB is a decoding error, not a wait */
    atomic_store(&p->c->head, 1000 + PROTO_HDR_LEN);
    proto_encode_hdr(c->data + (1000 & c->mask), PT_DATA, 0, 0, 1, PROTO_MAX_PAYLOAD + 1);
    cr_assert_eq(shm_ring_next(c, &r, &fl), PROTO_ELEN);
    /* a bad magic is a decoding error too, told apart from a corrupt index */
    c->data[1000 & c->mask] = 'X';
    cr_assert_eq(shm_ring_next(c, &r, &fl), PROTO_EMAGIC);
    cr_assert_neq(PROTO_EMAGIC, SHM_ECORRUPT);
    /* the producer's side: a tail ahead of what was published, or a whole ring behind */
    atomic_store(&p->c->tail, 1001);
    cr_assert_eq(shm_ring_space(p), SHM_ECORRUPT);
    cr_assert_null(shm_ring_reserve(p, 1));
    atomic_store(&p->c->tail, 1000 - SZ - 1);
    cr_assert_eq(shm_ring_space(p), SHM_ECORRUPT);
    atomic_store(&p->c->tail, 1000 - SZ);
    cr_assert_eq(shm_ring_space(p), 0);
    cr_assert_null(shm_ring_reserve(p, 1));
}

Test(shm_ring, wake_ups_only_for_sleepers)
{
    struct shm_ring *p = &dmn.d2c, *c = &cli.d2c;
    cr_assert_not(shm_ring_consumer_sleep(c), "empty: sleep");
    cr_assert_eq(atomic_load(&c->c->consumer_sleeping), 1);
    shm_ring_commit(p, 8);
    cr_assert(shm_ring_publish(p), "the sleeper is woken");
    cr_assert_eq(atomic_load(&c->c->consumer_sleeping), 0);
    shm_ring_commit(p, 8);
    cr_assert_not(shm_ring_publish(p), "once");
    cr_assert(shm_ring_consumer_sleep(c), "data there: do not sleep");
    cr_assert_eq(atomic_load(&c->c->consumer_sleeping), 0);
    /* the producer waits for room; the consumer's give-back wakes it once */
    shm_ring_commit(p, SZ - 16);
    cr_assert_eq(shm_ring_space(p), 0);
    cr_assert_not(shm_ring_producer_wait(p, 64));
    cr_assert_eq(atomic_load(&p->c->producer_waiting), 1);
    cr_assert(shm_ring_consume(c, 16));
    cr_assert_eq(atomic_load(&p->c->producer_waiting), 0);
    cr_assert_not(shm_ring_consume(c, 16));
    cr_assert(shm_ring_producer_wait(p, 16), "room appeared: no wait");
}

Test(shm_ring, the_memfd_is_sealed_and_checked)
{
    cr_assert_eq(ftruncate(fd, 4096), -1, "sealed against shrinking");
    cr_assert_eq(errno, EPERM);
    struct shm_area a;
    errno = 0;
    cr_assert_eq(shm_area_map(&a, fd, 2 * SZ, 1), -1, "size differs from the file");
    cr_assert_eq(errno, EINVAL);
    int raw = memfd_create("unsealed", MFD_CLOEXEC);
    cr_assert_geq(raw, 0);
    cr_assert_eq(ftruncate(raw, (off_t)SHM_FILE_SIZE(SZ)), 0);
    cr_assert_eq(shm_area_map(&a, raw, SZ, 0), -1, "no seals: refused");
    cr_assert_eq(errno, EINVAL);
    close(raw);
    /* a header that lies about the size */
    uint32_t wrong = 2 * SZ;
    memcpy(cli.base + 8, &wrong, 4);
    cr_assert_eq(shm_area_map(&a, fd, SZ, 1), -1);
    cr_assert_eq(shm_area_map(&a, fd, SZ, 0), 0, "without the header check");
    shm_area_unmap(&a);
    cr_assert_null(a.base);
}
