/* libminitcp-client: thread safety. One lock serializes every call (api.c). A call that
 * waits for the daemon lets go of it: the first such thread polls the daemon socket (the
 * reader) and handles what arrives for everyone; the others sleep on a condition until it
 * (or any thread that read frames or wrote output) announces news, then look again. The
 * reader's poll also watches an eventfd, so that news it cannot see on the socket (frames
 * another thread read, output another thread queued) wakes it too. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"

static pthread_mutex_t mu = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static __thread int depth; /* this thread's nesting of mu */

/* news: a generation counter under its own small lock, for the sleeping threads */
static pthread_mutex_t news_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t news_cv = PTHREAD_COND_INITIALIZER;
static unsigned long news;

/* under mu */
static bool reading;
static pthread_t reader;
static int wake_fd = -1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void child_after_fork(void)
{
    /* only the forking thread exists: whatever another thread held is void */
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&mu, &a);
    pthread_mutexattr_destroy(&a);
    pthread_mutex_init(&news_mu, NULL);
    pthread_cond_init(&news_cv, NULL);
    depth = 0;
    reading = false;
    if (wake_fd >= 0) close(wake_fd);
    wake_fd = -1;
}

static void init_once(void)
{
    pthread_atfork(NULL, NULL, child_after_fork);
}

void mtc_lock(void)
{
    pthread_once(&once, init_once);
    pthread_mutex_lock(&mu);
    depth++;
}

void mtc_unlock(void)
{
    int e = errno;
    depth--;
    pthread_mutex_unlock(&mu);
    errno = e;
}

void mtc_notify(void)
{
    int e = errno;
    pthread_mutex_lock(&news_mu);
    news++;
    pthread_cond_broadcast(&news_cv);
    pthread_mutex_unlock(&news_mu);
    if (reading && !pthread_equal(reader, pthread_self()) && wake_fd >= 0) {
        uint64_t one = 1;
        (void)!write(wake_fd, &one, sizeof one);
    }
    errno = e;
}

static int release_all(void)
{
    int d = depth;
    while (depth)
        mtc_unlock();
    return d;
}

static void reacquire(int d)
{
    while (d--)
        mtc_lock();
}

int mtc_wait_fd(short events, int timeout_ms, const sigset_t *sigmask, short *revents)
{
    *revents = 0;
    if (wake_fd < 0) wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (reading || wake_fd < 0) {
        /* another thread polls the socket: sleep until it (or anyone) has news */
        if (events & POLLOUT) mtc_notify(); /* the reader must watch POLLOUT too */
        pthread_mutex_lock(&news_mu);
        unsigned long seen = news;
        int d = release_all(); /* news_mu first: no announcement can slip in between */
        struct timespec dl;
        if (timeout_ms >= 0) {
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_sec += timeout_ms / 1000;
            dl.tv_nsec += (timeout_ms % 1000) * 1000000L;
            if (dl.tv_nsec >= 1000000000L) {
                dl.tv_sec++;
                dl.tv_nsec -= 1000000000L;
            }
        }
        int r = 0;
        while (news == seen && r == 0)
            r = timeout_ms >= 0 ? pthread_cond_timedwait(&news_cv, &news_mu, &dl)
                                : pthread_cond_wait(&news_cv, &news_mu);
        pthread_mutex_unlock(&news_mu);
        reacquire(d);
        return r == ETIMEDOUT ? 1 : 0;
    }
    reading = true;
    reader = pthread_self();
    /* p[2]: the shared rings' eventfd (shm.c), -1 (ignored by ppoll) without them */
    struct pollfd p[3] = {{.fd = mtc.fd, .events = events},
                          {.fd = wake_fd, .events = POLLIN},
                          {.fd = mtc_shm_wake_fd(), .events = POLLIN}};
    struct timespec ts = {.tv_sec = timeout_ms / 1000, .tv_nsec = (timeout_ms % 1000) * 1000000L};
    int d = release_all();
    int r = ppoll(p, 3, timeout_ms >= 0 ? &ts : NULL, sigmask);
    int e = errno;
    reacquire(d);
    reading = false;
    if (p[1].revents) {
        uint64_t v;
        (void)!read(wake_fd, &v, sizeof v);
    }
    if (p[2].revents && mtc_shm_wake_fd() == p[2].fd) {
        uint64_t v;
        (void)!read(p[2].fd, &v, sizeof v);
    }
    mtc_notify(); /* the sleepers elect a new reader */
    if (r < 0) {
        errno = e;
        return -1;
    }
    if (r == 0) return 1;
    *revents = p[0].revents;
    return 0;
}
