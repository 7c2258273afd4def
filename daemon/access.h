/* Access control on the client socket (docs/security.md "Access control"): what a client
 * may do is decided from the kernel's word about the peer (SO_PEERCRED, SO_PEERGROUPS),
 * once, when it connects; the request path asks this module and nothing else. Per-uid
 * accounting (sessions, sockets) lives here too. Pure: no sockets, no stack
 * (tests/unit/test_access.c). */
#ifndef MINITCP_ACCESS_H
#define MINITCP_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mem.h"

#define ACCESS_LOW_PORTS 1024u /* ports below need privilege, as IPPORT_RESERVED */
/* Sockets one uid holds over all its clients: like the hard RLIMIT_NOFILE of a systemd
 * system (524288 is its current default; Linux's own was 4096): far above one user's
 * programs (a server may hold 10k+ connections), far below --max-conns. */
#define ACCESS_DEFAULT_SOCKS_PER_UID 65536u

/* What minitcpd was told at start. A group is named by its gid; has_* says one was given. */
struct access_policy {
    bool has_priv_group, has_capture_group;
    gid_t priv_gid;    /* --privileged-group: may bind ports below 1024 */
    gid_t capture_gid; /* --capture-group: may stream a live capture */
    unsigned max_socks_per_uid;
};

/* A client as the kernel described it. groups may be NULL (ngroups 0). */
struct access_cred {
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t ngroups;
};

enum {
    ACCESS_BIND_LOW = 1u << 0, /* bind a port below ACCESS_LOW_PORTS */
    ACCESS_CAPTURE = 1u << 1,  /* live packet capture */
    ACCESS_SEE_ALL = 1u << 2,  /* the owner (pid, socket id) of every listed connection */
};

/* The rights of a client: uid 0 has them all; a member of a named group (primary or
 * supplementary) those of the group. */
unsigned access_rights(const struct access_policy *p, const struct access_cred *c);

/* 0, or EACCES: binding port (0 = any) without the right. */
int access_bind(unsigned rights, uint16_t port);
/* 0, or EACCES. */
int access_capture(unsigned rights);
/* A socket owned by owner, touched by a client of uid who: 0, or EPERM. Sockets are
 * never shared across uids, root included: a root client that wants another's socket
 * has the process to ask. */
int access_touch(uid_t owner, uid_t who);
/* Whether a listing shows who owns a record (pid, socket id): to the owner, and to a
 * client with ACCESS_SEE_ALL. The addresses, ports and state are shown to every client,
 * as `ss` shows every socket of the machine. */
bool access_see_owner(unsigned rights, uid_t owner, uid_t who);

/* ---- per-uid accounting ---- */
struct access_uid {
    uid_t uid;
    unsigned sessions;    /* client sessions */
    unsigned socks;       /* sockets of those sessions */
    struct mem_group mem; /* buffers of its connections (--max-buffered-per-uid) */
    struct access_uid *next;
};
#define ACCESS_UID_BUCKETS 64
struct access_table {
    struct access_uid *b[ACCESS_UID_BUCKETS];
    uint64_t refused_socks; /* sockets refused at max_socks_per_uid */
    uint64_t buffered_max;  /* a new record's mem.max (0: no share) */
    uint64_t gone_refusals; /* mem.refusals of records freed */
};

/* The record of uid, created (all counts 0) when create is true; NULL when absent or out
 * of memory. */
struct access_uid *access_uid_get(struct access_table *t, uid_t uid, bool create);
/* Frees the record once no session of the uid remains (and none of its buffers: a
 * connection still charged keeps it). */
void access_uid_release(struct access_table *t, struct access_uid *u);
/* One more socket for u: 0, or EMFILE at the policy's limit (counted). */
int access_sock_charge(const struct access_policy *p, struct access_table *t, struct access_uid *u);
void access_sock_uncharge(struct access_uid *u);
/* True when u holds its last allowed socket (a listener must stop accepting). */
bool access_sock_full(const struct access_policy *p, const struct access_uid *u);
/* Buffer growth refused at the per-uid share, all uids, ever. */
uint64_t access_buffered_refusals(const struct access_table *t);
void access_table_fini(struct access_table *t);

#endif
