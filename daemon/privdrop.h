/* Least privilege after start: minitcpd opens what needs privilege (the TUN device, the
 * client socket, the first pcap file), then becomes an ordinary user with no capability. */
#ifndef MINITCP_PRIVDROP_H
#define MINITCP_PRIVDROP_H

#include <stdbool.h>
#include <sys/types.h>

struct privdrop_user {
    char name[64];
    uid_t uid;
    gid_t gid;
};

/* Looks USER up (a name, or a numeric uid) before anything is opened. 0 or -1 with a
 * message on stderr. */
int privdrop_lookup(const char *user, struct privdrop_user *out);

/* Switches to the user (supplementary groups, gid, uid: real, effective and saved),
 * clears every capability set (bounding, ambient, inheritable, permitted, effective) and
 * sets no_new_privs. Works as root, and as the user itself with no capability at all (a
 * TUN device created beforehand for it). 0, or -1 with a message on stderr: the daemon
 * must not go on half-privileged. */
int privdrop_apply(const struct privdrop_user *u);

/* For messages: true once privdrop_apply succeeded. */
bool privdrop_done(void);

#endif
