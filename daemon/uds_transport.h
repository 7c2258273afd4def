/* The Unix-socket client transport: the listener of minitcpd, one session per connected
 * client process, framed reads and buffered writes with back-pressure. Frames are handed
 * to the socket service (sock_service.h) or the control queries (control.h). */
#ifndef MINITCP_UDS_TRANSPORT_H
#define MINITCP_UDS_TRANSPORT_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "frames.h"
#include "sock_service.h"

#define OUT_SOFT (1024u * 1024u) /* output bytes beyond which a session stops pulling */

struct session {
    struct server *srv;
    struct sock_service *svc;
    int fd;
    ev_io rio, wio;
    pid_t pid;
    uid_t uid;
    gid_t gid;
    uint8_t *in;
    size_t in_len;
    uint8_t *out;
    size_t out_off, out_len, out_cap;
    bool read_paused;
    struct client_socks socks;
    struct session *next, *prev;
};

struct server {
    struct daemon *d;
    int lfd;
    ev_io lio;
    ev_prepare prep;
    char *path;
    struct session *sessions;
    unsigned nsessions;
    struct sock_service svc;
};

/* Output buffer: reserve room for n bytes, write them, then add them to out_len. */
size_t out_pending(const struct session *ss);
bool out_room(const struct session *ss);
uint8_t *out_reserve(struct session *ss, size_t n);
/* Queues a small control frame. */
void out_msg(struct session *ss, const struct proto_msg *m);
/* Answers a request (nothing when it carries no request id). */
void reply(struct session *ss, const struct proto_hdr *req, uint32_t sock_id, int err,
           uint32_t val0, uint32_t val1);

#endif
