/* libminitcp-preload: the socket table. A socket is found by the inode of the program's
 * descriptor, never by the descriptor's number: dup/dup2/fork copies find the same socket,
 * and a number closed behind our back and reused for a file or pipe finds nothing. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "preload.h"

#define NBUCKET 1024u
static struct pl_sock *buckets[NBUCKET];

static size_t bucket(dev_t dev, ino_t ino)
{
    return (size_t)((ino * 2654435761u) ^ dev) & (NBUCKET - 1);
}

struct pl_sock *pl_find_ino(dev_t dev, ino_t ino)
{
    for (struct pl_sock *s = buckets[bucket(dev, ino)]; s; s = s->hnext)
        if (s->ino == ino && s->dev == dev) return s;
    return NULL;
}

struct pl_sock *pl_find_fd(int fd)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) return NULL;
    return pl_find_ino(st.st_dev, st.st_ino);
}

void pl_sock_unkey(struct pl_sock *s)
{
    if (!s->ino) return;
    for (struct pl_sock **pp = &buckets[bucket(s->dev, s->ino)]; *pp; pp = &(*pp)->hnext)
        if (*pp == s) {
            *pp = s->hnext;
            break;
        }
    s->ino = 0;
    s->hnext = NULL;
}

int pl_sock_key(struct pl_sock *s, int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0) return -1;
    pl_sock_unkey(s);
    /* a stale entry with the same key (a socket closed behind our back) is dropped */
    struct pl_sock *old = pl_find_ino(st.st_dev, st.st_ino);
    if (old) pl_sock_unkey(old);
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    size_t b = bucket(s->dev, s->ino);
    s->hnext = buckets[b];
    buckets[b] = s;
    return 0;
}

struct pl_sock *pl_sock_new(int family)
{
    struct pl_sock *s = calloc(1, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    s->family = family;
    s->ms = s->p = s->hold = -1;
    s->keepidle = 7200;
    s->keepintvl = 75;
    s->keepcnt = 9;
    s->cc = -1;
    s->next = pl.all;
    if (pl.all) pl.all->prev = s;
    pl.all = s;
    pl.nsocks++;
    return s;
}

void pl_sock_free(struct pl_sock *s)
{
    pl_sock_unkey(s);
    if (s->prev)
        s->prev->next = s->next;
    else
        pl.all = s->next;
    if (s->next) s->next->prev = s->prev;
    free(s->to_app);
    free(s->to_net);
    free(s->pend);
    free(s);
    pl.nsocks--;
}
