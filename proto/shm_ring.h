/* Shared-memory rings between minitcpd and a client (docs/ipc.md "Shared rings").
 *
 * One memfd per client session holds a header, two ring control blocks and two data rings:
 * c2d (client -> daemon) and d2c (daemon -> client). Each ring carries the same frames as
 * the Unix socket (proto/frames.h), as a byte stream. The data area of each ring is mapped
 * twice, back to back, so that any span of up to `size` bytes starting anywhere in the ring
 * is contiguous: frames are written and decoded in place, never split.
 *
 * Indices are free-running u32 byte counts. Each side keeps its own index privately and
 * only publishes it; the peer's index is read, never trusted: a consumer that sees
 * head - tail > size, or a producer that sees head - tail > size, has a corrupt peer.
 *
 * Wake-ups: a consumer about to block sets `consumer_sleeping`, a producer about to wait
 * for room sets `producer_waiting`; the other side, after moving its index, clears the flag
 * and signals the sleeper's eventfd. Both sides order their index store and flag load with
 * a full fence (and the sleeper its flag store and index load), so no wake-up is lost.
 *
 * This file (and shm_ring.c) is pure: no system calls. shm_map.c maps the memfd. */
#ifndef MINITCP_PROTO_SHM_RING_H
#define MINITCP_PROTO_SHM_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frames.h"

#define SHM_MAGIC 0x5253544du /* "MTSR" little-endian */
#define SHM_VERSION 1u
#define SHM_HDR_SIZE 4096u          /* header page: shm_hdr, then two controls */
#define SHM_RING_MIN (256u * 1024u) /* holds 3 frames of the largest size */
#define SHM_RING_MAX (16u * 1024u * 1024u)
#define SHM_RING_DEFAULT (1024u * 1024u)

/* SETOPT on sock_id 0 with this option offers the rings: value = ring size (bytes, a power
 * of two in [SHM_RING_MIN, SHM_RING_MAX]), the memfd and two eventfds (the
 * daemon's wake-up, the client's wake-up) ride along as SCM_RIGHTS. A daemon without rings
 * answers EBADF (socket 0 is no socket), and the client stays on frames. */
#define SHM_OPT_RINGS 0x4d53u

/* Offsets in the memfd. */
#define SHM_CTRL_C2D 256u
#define SHM_CTRL_D2C 512u
#define SHM_DATA_C2D(size) ((uint64_t)SHM_HDR_SIZE)
#define SHM_DATA_D2C(size) ((uint64_t)SHM_HDR_SIZE + (size))
#define SHM_FILE_SIZE(size) ((uint64_t)SHM_HDR_SIZE + 2u * (uint64_t)(size))

struct shm_hdr { /* at offset 0, written by the client before the offer */
    uint32_t magic, version, ring_size, reserved;
};

/* One ring's shared control block: each index on its own cache line. */
struct shm_ctrl {
    _Atomic uint32_t head; /* written by the producer */
    uint8_t pad0[60];
    _Atomic uint32_t tail; /* written by the consumer */
    uint8_t pad1[60];
    _Atomic uint32_t consumer_sleeping; /* set by the consumer, cleared by the producer */
    _Atomic uint32_t producer_waiting;  /* set by the producer, cleared by the consumer */
    uint8_t pad2[56];
};

/* One side's private view of a ring. */
struct shm_ring {
    struct shm_ctrl *c;
    uint8_t *data; /* 2 * size bytes: the ring mapped twice */
    uint32_t size, mask;
    uint32_t head; /* producer: bytes written (published or not) */
    uint32_t pub;  /* producer: head last published */
    uint32_t tail; /* consumer: bytes consumed (published at once) */
};

enum {
    SHM_OK = 0,
    SHM_EAGAIN = -1,   /* consumer: no whole frame yet; producer: no room (= PROTO_ETRUNC) */
    SHM_ECORRUPT = -64 /* the peer's index is impossible (apart from every PROTO_E*) */
};

bool shm_ring_size_ok(uint32_t size);
void shm_ring_init(struct shm_ring *r, struct shm_ctrl *c, uint8_t *data, uint32_t size);

/* ---- consumer ---- */
/* Bytes the producer has published beyond our tail, or SHM_ECORRUPT. */
long shm_ring_avail(struct shm_ring *r);
/* The next whole frame, decoded in place (m's payload pointers point into the ring until
 * it is consumed). SHM_OK with *flen set, SHM_EAGAIN when no whole frame is there,
 * SHM_ECORRUPT, or a PROTO_E* decoding error (< 0, other than PROTO_ETRUNC). */
int shm_ring_next(struct shm_ring *r, struct proto_msg *m, size_t *flen);
/* Gives n bytes back to the producer. Returns true when the producer waits for room and
 * must be woken (the flag is cleared). */
bool shm_ring_consume(struct shm_ring *r, uint32_t n);
/* Before blocking: sets consumer_sleeping; returns true when data arrived meanwhile (do
 * not block; the flag is cleared again). */
bool shm_ring_consumer_sleep(struct shm_ring *r);
void shm_ring_consumer_awake(struct shm_ring *r);

/* ---- producer ---- */
/* Free bytes, or SHM_ECORRUPT. */
long shm_ring_space(struct shm_ring *r);
/* Room for n contiguous bytes at the private head, or NULL (no room, or corrupt: see
 * shm_ring_space). */
uint8_t *shm_ring_reserve(struct shm_ring *r, uint32_t n);
static inline void shm_ring_commit(struct shm_ring *r, uint32_t n)
{
    r->head += n;
}
/* Publishes the private head. Returns true when the consumer sleeps and must be woken. */
bool shm_ring_publish(struct shm_ring *r);
/* Before waiting for room: sets producer_waiting; true when room appeared meanwhile. */
bool shm_ring_producer_wait(struct shm_ring *r, uint32_t need);
/* Unpublished or unconsumed bytes the producer still owns in the ring. */
static inline uint32_t shm_ring_unpublished(const struct shm_ring *r)
{
    return r->head - r->pub;
}

#endif
