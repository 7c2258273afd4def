/* Internal to the socket service: shared by sock_service.c (sockets, stack events, the
 * work list) and sock_requests.c (client requests). */
#ifndef MINITCP_SOCK_SERVICE_INTERNAL_H
#define MINITCP_SOCK_SERVICE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sock_service.h"

#define GRANT_MIN (16u * 1024) /* smallest send-credit update worth a frame */

void work_add(struct ssock *s);
/* Waits for the stack's SEV_WRITABLE (one, when an ACK frees send space). */
void watch_space(struct sock_service *svc, struct ssock *s);
struct ssock *sock_lookup(struct session *ss, uint32_t id);
struct ssock *sock_alloc(struct session *ss, uint8_t kind, int *err);
int sock_set_handle(struct ssock *s, int h);
void sock_free(struct ssock *s);
/* Charges (on) or stops charging the connection's buffers to its uid's share. */
void sock_mem_attach(struct ssock *s, bool on);
void sock_release(struct sock_service *svc, struct ssock *s, bool abort);
int pend_append(struct ssock *s, const uint8_t *p, size_t n);
void send_failed(struct sock_service *svc, struct ssock *s, long err);

#endif
