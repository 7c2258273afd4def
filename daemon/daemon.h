/* The daemon's shared state: one libev loop wiring the TUN device, the stack core and
 * the client sessions together. No protocol logic lives here. */
#ifndef MINITCP_DAEMON_H
#define MINITCP_DAEMON_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "net/stack.h"

struct pcap_writer; /* pcap.h */
struct capture_hub; /* capture.h: live capture readers */
struct server;      /* uds_transport.h: the Unix-socket listener and its client sessions */

struct daemon_options {
    const char *tun_name;
    uint32_t addr;
    const char *socket_path; /* NULL: no client socket */
    const char *socket_group;
    unsigned max_clients;          /* client sessions, 0 = default (4096) */
    unsigned max_clients_per_uid;  /* sessions of one uid, 0 = default (1024) */
    const char *priv_group;        /* --privileged-group: may bind ports below 1024 */
    const char *capture_group;     /* --capture-group: may stream a live capture */
    unsigned max_socks_per_uid;    /* 0 = default (access.h) */
    uint64_t max_buffered_per_uid; /* socket buffer bytes of one uid; main sets the default */
    bool trace;
    bool shm;         /* --shm: clients may move their frames to shared rings (default on) */
    const char *user; /* --user: the identity after start (privdrop.h), NULL = stay */
    uid_t user_uid;
};

struct daemon {
    struct ev_loop *loop;
    struct stack *st;
    struct daemon_options opt;
    int tun_fd;
    char tun_name[32];
    ev_io tun_w;
    ev_timer timer;     /* armed at stack_next_deadline() */
    ev_prepare prepare; /* re-arms the timer once per loop iteration */
    ev_signal sigint_w, sigterm_w;
    struct server *srv;
    struct pcap_writer *pcap; /* --pcap, NULL when not capturing */
    struct capture_hub *live; /* minitcpctl capture readers, NULL without a socket */
    bool vnet;                /* the TUN device carries virtio-net headers (--offload on) */
    bool tx_refused;          /* it refused a super-packet once: segmented here since */
};

/* Monotonic milliseconds, the stack's clock. */
stack_time_t daemon_now(void);

/* uds_transport.c (start/stop) and sock_service.c (stack events) */
int server_start(struct daemon *d);
void server_stop(struct daemon *d);
void server_on_stack_event(struct daemon *d, int handle, unsigned events);

#endif
