/* Mapping the shared rings' memfd (shm_ring.h): created and sealed by the client, checked
 * and mapped by both sides with each ring's data area mapped twice back to back. */
#ifndef MINITCP_PROTO_SHM_MAP_H
#define MINITCP_PROTO_SHM_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "shm_ring.h"

struct shm_area {
    uint8_t *base; /* the whole reservation, NULL when unmapped */
    size_t len;
    uint32_t size;       /* of each ring */
    struct shm_ring c2d; /* client -> daemon */
    struct shm_ring d2c; /* daemon -> client */
};

/* A new memfd of SHM_FILE_SIZE(size), sealed against shrinking and growing (so the peer
 * can never make a mapped page vanish: no SIGBUS), header written. fd or -1 with errno. */
int shm_area_create(uint32_t size);
/* Maps fd after checking its seals and size against `size` (a peer's memfd is not
 * trusted) and, when check_hdr, its header. 0, or -1 with errno (EINVAL: wrong file). */
int shm_area_map(struct shm_area *a, int fd, uint32_t size, int check_hdr);
void shm_area_unmap(struct shm_area *a);

#endif
