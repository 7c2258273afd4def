/* A client that speaks the shared-ring protocol by hand (proto/shm_map.h) to break it on
 * purpose: test_shm.sh checks that the daemon closes only this client, counts it, and
 * keeps nothing of it.
 *   shm_abuser SOCKET MODE
 *   MODE head:  c2d head set beyond the ring     len:  a frame whose length is beyond 64 KiB
 *        tail:  d2c tail set beyond what the daemon wrote, then an INFO request
 *        die:   attach, ask INFO, exit with the rings mapped (no close of anything)
 *        ok:    attach, INFO answered through the rings
 * Prints "attached" once the daemon took the rings, then "closed" when the daemon closed
 * the session (EOF on the socket), "answered" when INFO came back. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "frames.h"
#include "shm_map.h"

static int fd;
static struct shm_area a;

static void die(const char *what)
{
    fprintf(stderr, "shm_abuser: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void put_frame(const struct proto_msg *m)
{
    uint8_t *p = shm_ring_reserve(&a.c2d, PROTO_HDR_LEN + 64);
    long n = proto_encode(m, p, PROTO_HDR_LEN + 64);
    if (!p || n < 0) die("encode");
    shm_ring_commit(&a.c2d, (uint32_t)n);
    shm_ring_publish(&a.c2d);
}

/* Waits (up to 5 s) for EOF on the socket or a frame in d2c. */
static const char *outcome(int efd_d)
{
    uint64_t one = 1;
    (void)!write(efd_d, &one, sizeof one); /* the daemon may sleep: wake it */
    for (int i = 0; i < 500; i++) {
        struct proto_msg m;
        size_t fl;
        if (shm_ring_next(&a.d2c, &m, &fl) == SHM_OK) return "answered";
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10) > 0) {
            char b[64];
            if (recv(fd, b, sizeof b, 0) == 0) return "closed";
        }
    }
    return "nothing";
}

int main(int argc, char **argv)
{
    if (argc != 3) return 2;
    const char *mode = argv[2];
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[1]);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect");
    uint32_t size = SHM_RING_MIN;
    int memfd = shm_area_create(size);
    if (memfd < 0 || shm_area_map(&a, memfd, size, 1) < 0) die("memfd");
    int fds[3] = {memfd, eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC)};
    uint8_t f[PROTO_HDR_LEN + 8];
    struct proto_msg m = {.h = {.type = PT_SETOPT, .req_id = 1}};
    m.u.setopt.opt = SHM_OPT_RINGS;
    m.u.setopt.value = (int32_t)size;
    long n = proto_encode(&m, f, sizeof f);
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof fds)];
    } cb;
    memset(&cb, 0, sizeof cb);
    struct iovec iov = {f, (size_t)n};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cb, .msg_controllen = sizeof cb};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    if (sendmsg(fd, &mh, MSG_NOSIGNAL) != n) die("sendmsg");
    uint8_t r[PROTO_HDR_LEN + 12];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t k = recv(fd, r + got, sizeof r - got, 0);
        if (k <= 0) die("reply");
        got += (size_t)k;
    }
    struct proto_msg rep;
    size_t fl;
    if (proto_decode(r, sizeof r, &rep, &fl) != PROTO_OK || rep.h.type != PT_REPLY ||
        rep.u.reply.status != PE_OK) {
        printf("refused\n");
        return 1;
    }
    printf("attached\n");
    fflush(stdout);
    struct proto_msg info = {.h = {.type = PT_INFO, .req_id = 2}};
    if (!strcmp(mode, "head")) {
        atomic_store(&a.c2d.c->head, size + 100);
    } else if (!strcmp(mode, "len")) {
        uint8_t *p = a.c2d.data;
        proto_encode_hdr(p, PT_DATA, 0, 0, 1, PROTO_MAX_PAYLOAD + 1);
        a.c2d.head += PROTO_HDR_LEN;
        shm_ring_publish(&a.c2d);
    } else if (!strcmp(mode, "tail")) {
        atomic_store(&a.d2c.c->tail, 12345);
        put_frame(&info);
    } else if (!strcmp(mode, "die")) {
        put_frame(&info);
        uint64_t one = 1;
        (void)!write(fds[1], &one, sizeof one);
        _exit(0); /* rings mapped, fds open: the kernel tidies up our side */
    } else {
        put_frame(&info);
    }
    printf("%s\n", outcome(fds[1]));
    return 0;
}
