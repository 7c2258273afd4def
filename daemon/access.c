/* Access control on the client socket (access.h). */
#include <errno.h>
#include <stdlib.h>

#include "access.h"

static bool in_group(const struct access_cred *c, gid_t g)
{
    if (c->gid == g) return true;
    for (size_t i = 0; i < c->ngroups; i++)
        if (c->groups[i] == g) return true;
    return false;
}

unsigned access_rights(const struct access_policy *p, const struct access_cred *c)
{
    if (c->uid == 0) return ACCESS_BIND_LOW | ACCESS_CAPTURE | ACCESS_SEE_ALL;
    unsigned r = 0;
    if (p->has_priv_group && in_group(c, p->priv_gid)) r |= ACCESS_BIND_LOW;
    if (p->has_capture_group && in_group(c, p->capture_gid)) r |= ACCESS_CAPTURE;
    return r;
}

int access_bind(unsigned rights, uint16_t port)
{
    if (port == 0 || port >= ACCESS_LOW_PORTS) return 0;
    return rights & ACCESS_BIND_LOW ? 0 : EACCES;
}

int access_capture(unsigned rights)
{
    return rights & ACCESS_CAPTURE ? 0 : EACCES;
}

int access_touch(uid_t owner, uid_t who)
{
    return owner == who ? 0 : EPERM;
}

bool access_see_owner(unsigned rights, uid_t owner, uid_t who)
{
    return owner == who || (rights & ACCESS_SEE_ALL);
}

static struct access_uid **slot(struct access_table *t, uid_t uid)
{
    struct access_uid **pp = &t->b[(uint32_t)uid * 2654435761u >> 26];
    while (*pp && (*pp)->uid != uid)
        pp = &(*pp)->next;
    return pp;
}

struct access_uid *access_uid_get(struct access_table *t, uid_t uid, bool create)
{
    struct access_uid **pp = slot(t, uid);
    if (*pp || !create) return *pp;
    struct access_uid *u = calloc(1, sizeof *u);
    if (!u) return NULL;
    u->uid = uid;
    u->mem.max = t->buffered_max ? t->buffered_max : UINT64_MAX;
    *pp = u;
    return u;
}

void access_uid_release(struct access_table *t, struct access_uid *u)
{
    if (u->sessions || u->socks || u->mem.used) return;
    struct access_uid **pp = slot(t, u->uid);
    if (*pp != u) return;
    *pp = u->next;
    t->gone_refusals += u->mem.refusals;
    free(u);
}

uint64_t access_buffered_refusals(const struct access_table *t)
{
    uint64_t n = t->gone_refusals;
    for (size_t i = 0; i < ACCESS_UID_BUCKETS; i++)
        for (const struct access_uid *u = t->b[i]; u; u = u->next)
            n += u->mem.refusals;
    return n;
}

bool access_sock_full(const struct access_policy *p, const struct access_uid *u)
{
    unsigned max = p->max_socks_per_uid ? p->max_socks_per_uid : ACCESS_DEFAULT_SOCKS_PER_UID;
    return u->socks >= max;
}

int access_sock_charge(const struct access_policy *p, struct access_table *t, struct access_uid *u)
{
    if (access_sock_full(p, u)) {
        t->refused_socks++;
        return EMFILE;
    }
    u->socks++;
    return 0;
}

void access_sock_uncharge(struct access_uid *u)
{
    if (u->socks) u->socks--;
}

void access_table_fini(struct access_table *t)
{
    for (size_t i = 0; i < ACCESS_UID_BUCKETS; i++) {
        while (t->b[i]) {
            struct access_uid *u = t->b[i];
            t->b[i] = u->next;
            free(u);
        }
    }
}
