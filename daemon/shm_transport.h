/* The shared-ring client transport (docs/ipc.md "Shared rings"): a session that offered a
 * memfd with two rings moves its frames through them instead of the Unix socket, which then
 * only tells the daemon that the client is gone. Plugged into uds_transport.c's session:
 * reading frames (shm_next/shm_consume), the output buffer (shm_out_*), the flush, and the
 * wake-up eventfd. */
#ifndef MINITCP_SHM_TRANSPORT_H
#define MINITCP_SHM_TRANSPORT_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "frames.h"
#include "shm_map.h"

struct session;

struct shm_chan {
    struct shm_area a;
    int memfd, efd_wake, efd_peer; /* the daemon's wake-up, the client's */
    ev_io wio;                     /* efd_wake readable */
    bool more;                     /* a slice ended with frames left in c2d */
    bool in_ring;                  /* the last out_reserve points into d2c */
    bool broken;                   /* the client corrupted d2c's tail: close at the flush */
};

/* SETOPT(sock 0, SHM_OPT_RINGS) with the fds received before it: answers it on the Unix
 * socket and switches the session. Returns -1 with *why when the session must close. */
int shm_attach(struct session *ss, const struct proto_msg *m, const char **why);
void shm_detach(struct session *ss);

/* The next frame of c2d: 1 (m, *flen set), 0 none (the ring is armed for a wake-up), -1
 * corrupt with *why set. */
int shm_next(struct session *ss, struct proto_msg *m, size_t *flen, const char **why);
void shm_consume(struct session *ss, size_t flen);

uint8_t *shm_out_reserve(struct session *ss, size_t n);
bool shm_out_room(const struct session *ss);
/* Output into d2c (the overflow buffer first), published, the client woken if it sleeps.
 * Bytes moved, or -1 when the session was closed. */
long shm_flush(struct session *ss);
/* The Unix socket is readable: EOF closes the session, bytes are a violation. */
void shm_uds_readable(struct session *ss);

#endif
