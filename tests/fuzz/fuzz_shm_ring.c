/* libFuzzer target: the shared-ring consumer and producer checks (proto/shm_ring.c) against
 * a peer that writes anything anywhere: its indices, its flags and the ring's bytes, between
 * our reads. The ring is a heap buffer of exactly 2 * size bytes with the mirror kept by
 * hand, so ASan flags any read or write outside the mapping the daemon would have. Every
 * frame handed out must lie within what was published and decode again to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shm_ring.h"

#define SIZE SHM_RING_MIN

static uint8_t *ring; /* 2 * SIZE: the mirror */
static struct shm_ctrl ctrl;
static uint8_t out[PROTO_MAX_FRAME];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t get32(const uint8_t *d, size_t n, size_t *off)
{
    uint32_t v = 0;
    for (int i = 0; i < 4 && *off < n; i++)
        v |= (uint32_t)d[(*off)++] << (8 * i);
    return v;
}

static void peer_write(uint32_t pos, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t o = (pos + (uint32_t)i) & (SIZE - 1);
        ring[o] = ring[o + SIZE] = src[i];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ring && !(ring = malloc(2 * (size_t)SIZE))) return 0;
    memset(&ctrl, 0, sizeof ctrl);
    struct shm_ring cons, prod;
    shm_ring_init(&cons, &ctrl, ring, SIZE);
    shm_ring_init(&prod, &ctrl, ring, SIZE);
    size_t off = 0;
    while (off < size) {
        uint8_t op = data[off++];
        switch (op & 7) {
        case 0: /* the peer's producer index */
            atomic_store(&ctrl.head, get32(data, size, &off));
            break;
        case 1: /* the peer's consumer index */
            atomic_store(&ctrl.tail, get32(data, size, &off));
            break;
        case 2: { /* bytes at a position of the peer's choice */
            uint32_t pos = get32(data, size, &off);
            size_t n = off < size ? data[off++] : 0;
            if (n > size - off) n = size - off;
            peer_write(pos, data + off, n);
            off += n;
            break;
        }
        case 3: { /* the peer writes well-formed frame headers at our tail */
            uint32_t len = get32(data, size, &off) % (PROTO_MAX_PAYLOAD + 64);
            uint8_t h[PROTO_HDR_LEN];
            proto_encode_hdr(h, PT_DATA, 0, 0, 1, len);
            peer_write(cons.tail, h, sizeof h);
            break;
        }
        case 4: /* flags */
            atomic_store(&ctrl.consumer_sleeping, op >> 3 & 1);
            atomic_store(&ctrl.producer_waiting, op >> 4 & 1);
            break;
        case 5: /* the consumer: frames until none or an error */
            for (int i = 0; i < 64; i++) {
                long avail = shm_ring_avail(&cons);
                struct proto_msg m;
                size_t fl;
                int rc = shm_ring_next(&cons, &m, &fl);
                if (rc != SHM_OK) {
                    if (rc == SHM_ECORRUPT && avail >= 0 && avail <= SIZE) __builtin_trap();
                    break;
                }
                if (avail < 0 || fl < PROTO_HDR_LEN || fl > (size_t)avail || fl > PROTO_MAX_FRAME)
                    __builtin_trap();
                long n = proto_encode(&m, out, sizeof out);
                if (n != (long)fl) __builtin_trap();
                (void)shm_ring_consume(&cons, (uint32_t)fl);
            }
            (void)shm_ring_consumer_sleep(&cons);
            break;
        case 6: { /* the producer: reserve, write, publish */
            uint32_t n = get32(data, size, &off) % (PROTO_MAX_FRAME + 1);
            uint8_t *p = shm_ring_reserve(&prod, n);
            if (p) {
                if (p < ring || p + n > ring + 2 * (size_t)SIZE) __builtin_trap();
                memset(p, 0x5a, n);
                shm_ring_commit(&prod, n);
            }
            (void)shm_ring_publish(&prod);
            break;
        }
        default:
            (void)shm_ring_producer_wait(&prod, op);
            break;
        }
    }
    return 0;
}
