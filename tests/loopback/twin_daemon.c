/* Hermetic test harness: two minitcpd cores (10.0.0.2 "A", 10.0.1.2 "B") and their client
 * session servers in one process, packets passed between them in memory: no TUN, no root,
 * no namespace. Sockets DIR/a.sock and DIR/b.sock. Usage: twin_daemon DIR [trace]. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "daemon.h"

stack_time_t daemon_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (stack_time_t)ts.tv_sec * 1000 + (stack_time_t)ts.tv_nsec / 1000000;
}
struct pkt {
    struct pkt *next;
    int to;
    size_t len;
    uint8_t data[];
};
static struct daemon D[2];
static struct pkt *qh, *qt;
static ev_idle idle_w;
static struct ev_loop *loop;
static long delivered;

static void on_output(void *ctx, const uint8_t *p, size_t len)
{
    struct daemon *d = ctx;
    struct pkt *k = malloc(sizeof *k + len);
    k->next = NULL;
    k->to = d == &D[0] ? 1 : 0;
    k->len = len;
    memcpy(k->data, p, len);
    if (qt)
        qt->next = k;
    else
        qh = k;
    qt = k;
    ev_idle_start(loop, &idle_w);
}
static void idle_cb(struct ev_loop *l, ev_idle *w, int r)
{
    (void)r;
    struct pkt *k = qh;
    qh = qt = NULL;
    while (k) {
        struct pkt *n = k->next;
        stack_input(D[k->to].st, k->data, k->len, daemon_now());
        delivered++;
        free(k);
        k = n;
    }
    if (!qh) ev_idle_stop(l, w);
}
static void on_event(void *ctx, int h, unsigned ev)
{
    server_on_stack_event(ctx, h, ev);
}
static void on_trace(void *ctx, const char *line)
{
    printf("%c %s\n", ctx == &D[0] ? 'A' : 'B', line);
    fflush(stdout);
}
static void timer_cb(struct ev_loop *l, ev_timer *w, int r)
{
    (void)l;
    (void)r;
    struct daemon *d = w->data;
    stack_poll(d->st, daemon_now());
}
static void prepare_cb(struct ev_loop *l, ev_prepare *w, int r)
{
    (void)r;
    struct daemon *d = w->data;
    stack_time_t next = stack_next_deadline(d->st);
    ev_timer_stop(l, &d->timer);
    if (next == STACK_TIME_NEVER) return;
    stack_time_t now = daemon_now();
    ev_timer_set(&d->timer, next > now ? (double)(next - now) / 1000.0 : 0.0, 0.0);
    ev_timer_start(l, &d->timer);
}
static void sig_cb(struct ev_loop *l, ev_signal *w, int r)
{
    (void)w;
    (void)r;
    ev_break(l, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp/twin";
    int trace = argc > 2 && atoi(argv[2]);
    loop = ev_default_loop(0);
    ev_idle_init(&idle_w, idle_cb);
    static char paths[2][256];
    for (int i = 0; i < 2; i++) {
        struct daemon *d = &D[i];
        d->loop = loop;
        d->opt.addr = i == 0 ? 0x0a000002 : 0x0a000102;
        snprintf(paths[i], sizeof paths[i], "%s/%c.sock", dir, i ? 'b' : 'a');
        d->opt.socket_path = paths[i];
        /* the per-uid client limit under test (tests/loopback/run.sh) */
        const char *lim = getenv("TWIN_MAX_CLIENTS_PER_UID");
        d->opt.max_clients_per_uid = lim ? (unsigned)atoi(lim) : 0;
        snprintf(d->tun_name, sizeof d->tun_name, "tun%d", i);
        struct stack_config cfg;
        stack_config_defaults(&cfg);
        cfg.addr = d->opt.addr;
        cfg.mtu = 1500;
        cfg.msl_ms = 500;
        cfg.rto_min_ms = 200;
        cfg.output = on_output;
        cfg.event = on_event;
        cfg.trace = trace ? on_trace : NULL;
        cfg.ctx = d;
        d->st = stack_new(&cfg);
        ev_init(&d->timer, timer_cb);
        d->timer.data = d;
        ev_prepare_init(&d->prepare, prepare_cb);
        d->prepare.data = d;
        ev_prepare_start(loop, &d->prepare);
        if (server_start(d) < 0) return 1;
    }
    ev_signal_init(&D[0].sigint_w, sig_cb, SIGINT);
    ev_signal_start(loop, &D[0].sigint_w);
    ev_signal_init(&D[0].sigterm_w, sig_cb, SIGTERM);
    ev_signal_start(loop, &D[0].sigterm_w);
    printf("twin: ready\n");
    fflush(stdout);
    ev_run(loop, 0);
    for (int i = 0; i < 2; i++)
        server_stop(&D[i]);
    for (int i = 0; i < 2; i++)
        stack_free(D[i].st);
    fprintf(stderr, "twin: delivered %ld packets\n", delivered);
    return 0;
}
