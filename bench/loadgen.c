/* loadgen: the benchmark's load generator, on the Linux kernel's sockets.
 *
 *   loadgen MODE --addr A.B.C.D --port N [options]
 *
 * Modes (each prints one JSON object on stdout, and exits 0 only when the run was clean):
 *   bulk-send   send --bytes of the counted pattern (pattern.h), shut down the write side and
 *               wait for the server's EOF; rate = bytes / (connect .. EOF)
 *   bulk-recv   read --bytes from a source server, verifying the counted pattern (or only
 *               counting them with --no-verify), then close
 *   echo-verify send --bytes of the pattern to an echo server and verify what comes back
 *   rr          --count 1-byte request/response transactions (TCP_NODELAY); tps, p50, p99
 *   conn        --count connections (connect, small request, read the reply to EOF, close),
 *               --concurrency C threads; --slices S reports the rate per slice of count/S
 *   hold        open --count connections (round-robin over --ports P1,P2,... if given), check that each echoes a byte, write --ready-file,
 *               wait for SIGUSR1 (or --hold-secs), check every connection echoes again, close
 *
 * Every mode stops by itself: --timeout SECS bounds the whole run (default 120).
 * --pattern-mod M: byte i of a bulk stream is (i mod M), default 251 (MiniTCP's source_server: 256).
 * --watch PID[,PID...] adds the user+system CPU seconds those processes used during the
 * measured interval (from /proc/PID/stat), and the machine's busy CPU seconds (/proc/stat).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"

#define MAX_WATCH 8
#define MAX_SLICES 64

static struct {
    const char *mode;
    struct sockaddr_in sa;
    uint64_t bytes;
    long count;
    int concurrency;
    int slices;
    double timeout;
    double hold_secs;
    int connect_timeout_ms;
    int io_timeout_ms;
    bool verify;
    const char *request;
    const char *expect;
    const char *ready_file;
    int nwatch;
    pid_t watch[MAX_WATCH];
    int nports; /* hold: spread connections round-robin over these ports */
    uint16_t ports[64];
} opt = {
    .bytes = 1u << 30,
    .count = 1000,
    .concurrency = 1,
    .slices = 1,
    .timeout = 120,
    .hold_secs = 60,
    .connect_timeout_ms = 3000,
    .io_timeout_ms = 5000,
    .verify = true,
    .request = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n",
    .expect = "HTTP/1.1 200 OK",
};

static double deadline;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    printf("{\"mode\":\"%s\",\"ok\":false,\"error\":\"%s: %s\"}\n", opt.mode, what,
           strerror(errno));
    exit(1);
}

/* ---- CPU accounting ---------------------------------------------------------------- */

struct cpu_snap {
    double proc[MAX_WATCH];
    double machine;
};

static double proc_cpu(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* comm may hold spaces */
    if (!p) return -1;
    unsigned long utime = 0, stime = 0;
    /* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double machine_busy(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[10] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 8) return -1;
    /* user nice system idle iowait irq softirq steal: busy = all but idle and iowait */
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

static void cpu_take(struct cpu_snap *s)
{
    for (int i = 0; i < opt.nwatch; i++) s->proc[i] = proc_cpu(opt.watch[i]);
    s->machine = machine_busy();
}

static void cpu_print(const struct cpu_snap *a, const struct cpu_snap *b)
{
    double sum = 0;
    for (int i = 0; i < opt.nwatch; i++) sum += b->proc[i] - a->proc[i];
    if (opt.nwatch) printf(",\"stack_cpu_s\":%.3f", sum);
    /* the first watched process alone (MiniTCP: the daemon, without the app) */
    if (opt.nwatch) printf(",\"watch0_cpu_s\":%.3f", b->proc[0] - a->proc[0]);
    printf(",\"machine_cpu_s\":%.3f", b->machine - a->machine);
}

/* ---- sockets ------------------------------------------------------------------------ */

static void set_timeouts(int fd, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Connects with a timeout; returns a blocking socket with I/O timeouts, or -1 (errno). */
static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&opt.sa, sizeof opt.sa) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int r = poll(&p, 1, opt.connect_timeout_ms);
    int err = 0;
    socklen_t len = sizeof err;
    if (r == 0) err = ETIMEDOUT;
    else if (r < 0) err = errno;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err) {
        close(fd);
        errno = err;
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    set_timeouts(fd, opt.io_timeout_ms);
    return fd;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- bulk --------------------------------------------------------------------------- */

static int bulk_send(void)
{
    struct cpu_snap c0, c1;
    cpu_take(&c0);
    double t0 = now_s();
    int fd = dial();
    if (fd < 0) die("connect");
    set_timeouts(fd, 1000);
    uint64_t off = 0;
    while (off < opt.bytes) {
        size_t n = opt.bytes - off < PATTERN_CHUNK ? (size_t)(opt.bytes - off) : PATTERN_CHUNK;
        ssize_t w = write(fd, pattern_at(off), n);
        if (w < 0) {
            if ((errno == EAGAIN || errno == EINTR) && now_s() < deadline) continue;
            die("write");
        }
        off += (uint64_t)w;
    }
    shutdown(fd, SHUT_WR);
    uint8_t junk[4096];
    uint64_t extra = 0;
    for (;;) {
        ssize_t n = read(fd, junk, sizeof junk);
        if (n == 0) break;
        if (n < 0) {
            if ((errno == EAGAIN || errno == EINTR) && now_s() < deadline) continue;
            die("waiting for the server's EOF");
        }
        extra += (uint64_t)n;
    }
    double t1 = now_s();
    cpu_take(&c1);
    close(fd);
    double secs = t1 - t0;
    printf("{\"mode\":\"bulk-send\",\"ok\":true,\"bytes\":%llu,\"secs\":%.4f,\"gbps\":%.4f,"
           "\"reply_bytes\":%llu",
           (unsigned long long)off, secs, (double)off * 8 / secs / 1e9, (unsigned long long)extra);
    cpu_print(&c0, &c1);
    printf("}\n");
    return 0;
}

static int bulk_recv(void)
{
    static uint8_t buf[PATTERN_CHUNK];
    struct cpu_snap c0, c1;
    cpu_take(&c0);
    double t0 = now_s();
    int fd = dial();
    if (fd < 0) die("connect");
    set_timeouts(fd, 1000);
    uint64_t off = 0;
    bool good = true;
    while (off < opt.bytes) {
        size_t want = opt.bytes - off < sizeof buf ? (size_t)(opt.bytes - off) : sizeof buf;
        ssize_t n = read(fd, buf, want);
        if (n == 0) break;
        if (n < 0) {
            if ((errno == EAGAIN || errno == EINTR) && now_s() < deadline) continue;
            die("read");
        }
        if (opt.verify && good && !pattern_check(buf, (size_t)n, off)) {
            good = false;
            fprintf(stderr, "loadgen: pattern mismatch in [%llu, %llu)\n",
                    (unsigned long long)off, (unsigned long long)(off + (uint64_t)n));
        }
        off += (uint64_t)n;
    }
    double t1 = now_s();
    cpu_take(&c1);
    close(fd);
    double secs = t1 - t0;
    bool ok = good && off == opt.bytes;
    printf("{\"mode\":\"bulk-recv\",\"ok\":%s,\"bytes\":%llu,\"secs\":%.4f,\"gbps\":%.4f,"
           "\"verified\":\"%s\"",
           ok ? "true" : "false", (unsigned long long)off, secs, (double)off * 8 / secs / 1e9,
           !opt.verify ? "count" : good ? "pattern" : "MISMATCH");
    cpu_print(&c0, &c1);
    printf("}\n");
    return ok ? 0 : 1;
}

/* Sends the pattern and reads it back through an echo server, both at once (poll). */
static int echo_verify(void)
{
    static uint8_t buf[PATTERN_CHUNK];
    double t0 = now_s();
    int fd = dial();
    if (fd < 0) die("connect");
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    uint64_t sent = 0, got = 0;
    bool good = true, shut = false;
    while (got < opt.bytes && now_s() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < opt.bytes ? POLLOUT : 0)};
        if (poll(&p, 1, 200) < 0 && errno != EINTR) die("poll");
        if (p.revents & POLLOUT) {
            size_t n = opt.bytes - sent < 16384 ? (size_t)(opt.bytes - sent) : 16384;
            ssize_t w = write(fd, pattern_at(sent), n);
            if (w > 0) sent += (uint64_t)w;
            else if (w < 0 && errno != EAGAIN) die("write");
        }
        if (sent == opt.bytes && !shut) {
            shutdown(fd, SHUT_WR);
            shut = true;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n == 0) break;
            if (n < 0 && errno != EAGAIN) die("read");
            if (n > 0) {
                if (good && !pattern_check(buf, (size_t)n, got)) good = false;
                got += (uint64_t)n;
            }
        }
    }
    double secs = now_s() - t0;
    close(fd);
    bool ok = good && got == opt.bytes;
    printf("{\"mode\":\"echo-verify\",\"ok\":%s,\"bytes\":%llu,\"secs\":%.4f,\"gbps\":%.4f,"
           "\"verified\":\"%s\"}\n",
           ok ? "true" : "false", (unsigned long long)got, secs, (double)got * 8 / secs / 1e9,
           good ? "pattern" : "MISMATCH");
    return ok ? 0 : 1;
}

/* ---- request/response --------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int rr(void)
{
    int fd = dial();
    if (fd < 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const long warmup = opt.count / 20 < 100 ? opt.count / 20 : 100;
    int64_t *lat = calloc((size_t)opt.count, sizeof *lat);
    if (!lat) die("calloc");
    struct cpu_snap c0 = {0}, c1;
    double t0 = 0;
    long done = 0;
    for (long i = -warmup; i < opt.count; i++) {
        if (i == 0) {
            cpu_take(&c0);
            t0 = now_s();
        }
        uint8_t b = (uint8_t)i, r;
        int64_t s = now_ns();
        if (write(fd, &b, 1) != 1) die("write");
        ssize_t n;
        do n = read(fd, &r, 1);
        while (n < 0 && errno == EINTR);
        if (n != 1) die(n == 0 ? "echo server closed" : "read");
        if (r != b) {
            errno = EPROTO;
            die("echoed byte differs");
        }
        if (i >= 0) {
            lat[i] = now_ns() - s;
            done++;
        }
        if ((i & 1023) == 0 && now_s() > deadline) break;
    }
    double secs = now_s() - t0;
    cpu_take(&c1);
    close(fd);
    qsort(lat, (size_t)done, sizeof *lat, cmp_i64);
    double p50 = done ? (double)lat[done / 2] / 1e3 : 0;
    double p99 = done ? (double)lat[(size_t)((double)done * 0.99)] / 1e3 : 0;
    printf("{\"mode\":\"rr\",\"ok\":%s,\"count\":%ld,\"secs\":%.4f,\"tps\":%.1f,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f",
           done == opt.count ? "true" : "false", done, secs, (double)done / secs, p50, p99);
    cpu_print(&c0, &c1);
    printf("}\n");
    free(lat);
    return done == opt.count ? 0 : 1;
}

/* ---- connection rate ---------------------------------------------------------------- */

static atomic_long next_conn, ok_conns, failed_conns;
static double slice_end[MAX_SLICES];
static atomic_long slice_done[MAX_SLICES], slice_ok[MAX_SLICES];
static char first_error[160];
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;

static void note_error(const char *what, int e)
{
    atomic_fetch_add(&failed_conns, 1);
    pthread_mutex_lock(&err_lock);
    if (!first_error[0]) snprintf(first_error, sizeof first_error, "%s: %s", what, strerror(e));
    pthread_mutex_unlock(&err_lock);
}

/* One connection: connect, request, read the reply to EOF, check it, close. */
static bool one_conn(void)
{
    int fd = dial();
    if (fd < 0) {
        note_error("connect", errno);
        return false;
    }
    char buf[1024];
    size_t got = 0;
    bool ok = write_all(fd, opt.request, strlen(opt.request)) == 0;
    if (!ok) note_error("write", errno);
    while (ok) {
        ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            note_error("read", errno);
            ok = false;
            break;
        }
        got += (size_t)n;
        if (got == sizeof buf - 1) got = 0; /* a long reply: keep reading, keep the head */
    }
    buf[got] = 0;
    if (ok && strncmp(buf, opt.expect, strlen(opt.expect)) != 0) {
        note_error("unexpected reply", EPROTO);
        ok = false;
    }
    close(fd);
    return ok;
}

static void *conn_worker(void *arg)
{
    (void)arg;
    long per_slice = (opt.count + opt.slices - 1) / opt.slices;
    for (;;) {
        long i = atomic_fetch_add(&next_conn, 1);
        if (i >= opt.count || now_s() > deadline) break;
        int s = (int)(i / per_slice);
        if (one_conn()) {
            atomic_fetch_add(&ok_conns, 1);
            atomic_fetch_add(&slice_ok[s], 1);
        }
        long in_slice = s == opt.slices - 1 ? opt.count - per_slice * s : per_slice;
        if (atomic_fetch_add(&slice_done[s], 1) + 1 == in_slice)
            slice_end[s] = now_s(); /* the last finisher of a slice stamps it */
    }
    return NULL;
}

static int conn(void)
{
    if (opt.slices < 1 || opt.slices > MAX_SLICES) opt.slices = 1;
    pthread_t th[256];
    int nth = opt.concurrency < 1 ? 1 : opt.concurrency > 256 ? 256 : opt.concurrency;
    struct cpu_snap c0, c1;
    cpu_take(&c0);
    double t0 = now_s();
    for (int i = 0; i < nth; i++) pthread_create(&th[i], NULL, conn_worker, NULL);
    for (int i = 0; i < nth; i++) pthread_join(th[i], NULL);
    double secs = now_s() - t0;
    cpu_take(&c1);
    long ok = atomic_load(&ok_conns), failed = atomic_load(&failed_conns);
    bool timed_out = ok + failed < opt.count;
    printf("{\"mode\":\"conn\",\"ok\":%s,\"count\":%ld,\"concurrency\":%d,\"done\":%ld,"
           "\"failed\":%ld,\"timed_out\":%s,\"secs\":%.4f,\"cps\":%.1f",
           failed == 0 && !timed_out ? "true" : "false", opt.count, nth, ok, failed,
           timed_out ? "true" : "false", secs, (double)ok / secs);
    if (opt.slices > 1) {
        /* Per slice: connections that succeeded, that failed, and the seconds from the end
         * of the previous slice to the last connection of this one (to the end of the run
         * for a slice the timeout cut short). */
        printf(",\"slices\":[");
        double prev = t0, end_run = t0 + secs;
        for (int s = 0; s < opt.slices; s++) {
            double end = slice_end[s] > 0 ? slice_end[s] : end_run;
            long okn = atomic_load(&slice_ok[s]), all = atomic_load(&slice_done[s]);
            double d = end > prev ? end - prev : 0;
            printf("%s{\"ok\":%ld,\"failed\":%ld,\"secs\":%.4f,\"cps\":%.1f,\"complete\":%s}",
                   s ? "," : "", okn, all - okn, d, d > 0 ? (double)okn / d : 0.0,
                   slice_end[s] > 0 ? "true" : "false");
            prev = end;
        }
        printf("]");
    }
    if (first_error[0]) printf(",\"first_error\":\"%s\"", first_error);
    cpu_print(&c0, &c1);
    printf("}\n");
    return failed == 0 && !timed_out ? 0 : 1;
}

/* ---- holding many connections ------------------------------------------------------- */

static volatile sig_atomic_t released;
static void on_usr1(int sig)
{
    (void)sig;
    released = 1;
}

/* Sends one byte on every connection, then waits (poll, at most 30 s and never past the
 * run's deadline) for every echo; a connection that fails or does not echo in time is
 * closed. Returns how many echoed the right byte. */
static long echo_round(int *fds, long n, uint8_t tag)
{
    long ok = 0, waiting = 0;
    char *state = calloc((size_t)n, 1); /* 1 = waiting for its echo */
    struct pollfd *p = calloc((size_t)n, sizeof *p);
    long *idx = calloc((size_t)n, sizeof *idx);
    if (!state || !p || !idx) die("calloc");
    for (long i = 0; i < n; i++) {
        if (fds[i] < 0) continue;
        uint8_t b = (uint8_t)(tag + i);
        if (write(fds[i], &b, 1) == 1) {
            state[i] = 1;
            waiting++;
        } else {
            close(fds[i]);
            fds[i] = -1;
        }
    }
    double until = now_s() + 30;
    if (until > deadline) until = deadline;
    while (waiting > 0 && now_s() < until) {
        long np = 0;
        for (long i = 0; i < n; i++)
            if (state[i]) {
                p[np] = (struct pollfd){.fd = fds[i], .events = POLLIN};
                idx[np++] = i;
            }
        int r = poll(p, (nfds_t)np, 200);
        if (r < 0 && errno != EINTR) die("poll");
        for (long k = 0; r > 0 && k < np; k++) {
            if (!p[k].revents) continue;
            long i = idx[k];
            uint8_t b;
            ssize_t got = read(fds[i], &b, 1);
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            state[i] = 0;
            waiting--;
            if (got == 1 && b == (uint8_t)(tag + i)) ok++;
            else {
                close(fds[i]);
                fds[i] = -1;
            }
        }
    }
    for (long i = 0; i < n; i++)
        if (state[i]) { /* no echo in time */
            close(fds[i]);
            fds[i] = -1;
        }
    free(state);
    free(p);
    free(idx);
    return ok;
}

static int hold(void)
{
    int *fds = calloc((size_t)opt.count, sizeof *fds);
    if (!fds) die("calloc");
    signal(SIGUSR1, on_usr1);
    double t0 = now_s();
    long opened = 0, failed = 0;
    for (long i = 0; i < opt.count; i++) {
        if (opt.nports) opt.sa.sin_port = htons(opt.ports[i % opt.nports]);
        fds[i] = now_s() < deadline ? dial() : -1;
        if (fds[i] >= 0) fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        if (fds[i] < 0) {
            if (!first_error[0])
                snprintf(first_error, sizeof first_error, "connect #%ld: %s", i, strerror(errno));
            failed++;
        } else
            opened++;
    }
    double open_secs = now_s() - t0;
    long echo1 = echo_round(fds, opt.count, 1);
    if (opt.ready_file) {
        FILE *f = fopen(opt.ready_file, "w");
        if (f) {
            fprintf(f, "%ld\n", echo1);
            fclose(f);
        }
    }
    double until = now_s() + opt.hold_secs;
    while (!released && now_s() < until && now_s() < deadline) usleep(20000);
    long echo2 = echo_round(fds, opt.count, 2);
    /* Abortive close (RST): 10,000 client-side TIME_WAITs per run would exhaust the
     * namespace's ports over several runs; the stack's close path is not what this measures. */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    for (long i = 0; i < opt.count; i++)
        if (fds[i] >= 0) {
            setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            close(fds[i]);
        }
    free(fds);
    bool ok = echo2 == opt.count;
    printf("{\"mode\":\"hold\",\"ok\":%s,\"count\":%ld,\"opened\":%ld,\"failed\":%ld,"
           "\"open_secs\":%.3f,\"echo_before\":%ld,\"echo_after\":%ld",
           ok ? "true" : "false", opt.count, opened, failed, open_secs, echo1, echo2);
    if (first_error[0]) printf(",\"first_error\":\"%s\"", first_error);
    printf("}\n");
    return ok ? 0 : 1;
}

/* ---- main --------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen bulk-send|bulk-recv|echo-verify|rr|conn|hold --addr A --port N\n"
            "  [--bytes N] [--count N] [--concurrency C] [--slices S] [--timeout SECS]\n"
            "  [--connect-timeout MS] [--io-timeout MS] [--no-verify] [--request STR]\n"
            "  [--expect PREFIX] [--ready-file PATH] [--hold-secs S] [--watch PID,...]\n"
            "  [--ports P1,P2,...] (hold) [--pattern-mod M] (byte i of a stream is i mod M; default 251)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2) usage();
    opt.mode = argv[1];
    opt.sa.sin_family = AF_INET;
    static const struct option longopts[] = {
        {"addr", 1, 0, 'a'},         {"port", 1, 0, 'p'},        {"bytes", 1, 0, 'b'},
        {"count", 1, 0, 'n'},        {"concurrency", 1, 0, 'c'}, {"slices", 1, 0, 's'},
        {"timeout", 1, 0, 't'},      {"connect-timeout", 1, 0, 'C'},
        {"io-timeout", 1, 0, 'I'},   {"no-verify", 0, 0, 'V'},   {"request", 1, 0, 'r'},
        {"expect", 1, 0, 'e'},       {"ready-file", 1, 0, 'R'},  {"hold-secs", 1, 0, 'H'},
        {"watch", 1, 0, 'w'},        {"pattern-mod", 1, 0, 'm'}, {"ports", 1, 0, 'P'},
        {0, 0, 0, 0},
    };
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            if (inet_pton(AF_INET, optarg, &opt.sa.sin_addr) != 1) usage();
            break;
        case 'p': opt.sa.sin_port = htons((uint16_t)atoi(optarg)); break;
        case 'b': opt.bytes = strtoull(optarg, NULL, 0); break;
        case 'n': opt.count = atol(optarg); break;
        case 'c': opt.concurrency = atoi(optarg); break;
        case 's': opt.slices = atoi(optarg); break;
        case 't': opt.timeout = atof(optarg); break;
        case 'C': opt.connect_timeout_ms = atoi(optarg); break;
        case 'I': opt.io_timeout_ms = atoi(optarg); break;
        case 'V': opt.verify = false; break;
        case 'r': opt.request = optarg; break;
        case 'e': opt.expect = optarg; break;
        case 'R': opt.ready_file = optarg; break;
        case 'H': opt.hold_secs = atof(optarg); break;
        case 'm': pattern_set_mod((unsigned)atoi(optarg)); break;
        case 'P':
            for (char *tok = strtok(optarg, ","); tok && opt.nports < 64; tok = strtok(NULL, ","))
                opt.ports[opt.nports++] = (uint16_t)atoi(tok);
            if (opt.nports) opt.sa.sin_port = htons(opt.ports[0]);
            break;
        case 'w':
            for (char *tok = strtok(optarg, ","); tok && opt.nwatch < MAX_WATCH;
                 tok = strtok(NULL, ","))
                opt.watch[opt.nwatch++] = (pid_t)atoi(tok);
            break;
        default: usage();
        }
    }
    if (!opt.sa.sin_port || opt.count < 1) usage();
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    deadline = now_s() + opt.timeout;
    if (!strcmp(opt.mode, "bulk-send")) return bulk_send();
    if (!strcmp(opt.mode, "bulk-recv")) return bulk_recv();
    if (!strcmp(opt.mode, "echo-verify")) return echo_verify();
    if (!strcmp(opt.mode, "rr")) return rr();
    if (!strcmp(opt.mode, "conn")) return conn();
    if (!strcmp(opt.mode, "hold")) return hold();
    usage();
}
