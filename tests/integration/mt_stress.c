/* libminitcp-client from many threads at once (built with ThreadSanitizer by
 * test_client_threads.sh). Usage: mt_stress ECHO_ADDR ECHO_PORT LISTEN_PORT ACCEPTS
 *   - 8 client threads, each 20 rounds of: connect to the kernel echo server, send 32 KiB
 *     of its own pattern while reading the echo, compare byte for byte, close;
 *   - an acceptor thread blocked in minitcp_accept on LISTEN_PORT, a thread per accepted
 *     connection echoing until EOF (ACCEPTS connections, from the test's kernel clients);
 *   - a thread in minitcp_poll with a timeout on a socket that never gets data.
 * Prints "listening" once the listener is up, then one line per failure; exit 0 when every
 * byte came back right. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minitcp.h"

#define CLIENTS 8
#define ROUNDS 20
#define SIZE (32 * 1024)

static struct sockaddr_in echo_addr;
static atomic_int failures;
static atomic_int done_clients;

static void fail(const char *what, int id)
{
    fprintf(stderr, "FAIL: %s (thread %d, errno %d %s)\n", what, id, errno, strerror(errno));
    atomic_fetch_add(&failures, 1);
}

static void *client(void *arg)
{
    int id = (int)(long)arg;
    static _Thread_local unsigned char out[SIZE], in[SIZE];
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < SIZE; i++)
            out[i] = (unsigned char)(i * 7 + id * 31 + r);
        int s = minitcp_socket(MINITCP_SOCK_STREAM);
        if (s < 0 || minitcp_connect(s, &echo_addr) < 0) {
            fail("connect", id);
            if (s >= 0) minitcp_close(s);
            continue;
        }
        /* send in pieces, reading the echo in between, so neither side's window fills */
        size_t sent = 0, got = 0;
        while (got < SIZE) {
            if (sent < SIZE) {
                size_t n = SIZE - sent < 4096 ? SIZE - sent : 4096;
                if (minitcp_send(s, out + sent, n) != (ssize_t)n) {
                    fail("send", id);
                    break;
                }
                sent += n;
            }
            ssize_t n = minitcp_recv(s, in + got, SIZE - got);
            if (n <= 0) {
                fail("recv", id);
                break;
            }
            got += (size_t)n;
        }
        if (got == SIZE && memcmp(in, out, SIZE) != 0) fail("echo differs", id);
        minitcp_close(s);
    }
    atomic_fetch_add(&done_clients, 1);
    return NULL;
}

static void *serve(void *arg)
{
    int c = (int)(long)arg;
    char buf[8192];
    for (;;) {
        ssize_t n = minitcp_recv(c, buf, sizeof buf);
        if (n < 0) fail("server recv", c);
        if (n <= 0) break;
        if (minitcp_send(c, buf, (size_t)n) != n) {
            fail("server send", c);
            break;
        }
    }
    minitcp_close(c);
    return NULL;
}

struct acc {
    int ls, n;
};

static void *acceptor(void *arg)
{
    struct acc *a = arg;
    pthread_t t[64];
    int k = 0;
    for (; k < a->n && k < 64; k++) {
        struct sockaddr_in peer;
        int c = minitcp_accept(a->ls, &peer);
        if (c < 0) {
            fail("accept", k);
            break;
        }
        pthread_create(&t[k], NULL, serve, (void *)(long)c);
    }
    for (int i = 0; i < k; i++)
        pthread_join(t[i], NULL);
    return NULL;
}

static void *idler(void *arg)
{
    (void)arg;
    int s = minitcp_socket(MINITCP_SOCK_STREAM);
    struct minitcp_pollfd p = {.s = s, .events = MINITCP_POLLIN};
    while (atomic_load(&done_clients) < CLIENTS) {
        if (minitcp_poll(&p, 1, 20) < 0) {
            fail("idle poll", -1);
            break;
        }
    }
    minitcp_close(s);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: mt_stress ECHO_ADDR ECHO_PORT LISTEN_PORT ACCEPTS\n");
        return 2;
    }
    echo_addr.sin_family = AF_INET;
    inet_pton(AF_INET, argv[1], &echo_addr.sin_addr);
    echo_addr.sin_port = htons((uint16_t)atoi(argv[2]));
    struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
    struct acc a = {.ls = minitcp_socket(MINITCP_SOCK_STREAM), .n = atoi(argv[4])};
    if (a.ls < 0 || minitcp_bind(a.ls, &la) < 0 || minitcp_listen(a.ls, 64) < 0) {
        perror("listener");
        return 1;
    }
    printf("listening\n");
    fflush(stdout);
    pthread_t acc_t, idle_t, cl[CLIENTS];
    pthread_create(&acc_t, NULL, acceptor, &a);
    pthread_create(&idle_t, NULL, idler, NULL);
    for (long i = 0; i < CLIENTS; i++)
        pthread_create(&cl[i], NULL, client, (void *)i);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(cl[i], NULL);
    pthread_join(idle_t, NULL);
    pthread_join(acc_t, NULL);
    minitcp_close(a.ls);
    printf("%d failures, %d client threads x %d rounds x %d bytes, %d accepted\n",
           atomic_load(&failures), CLIENTS, ROUNDS, SIZE, a.n);
    return atomic_load(&failures) ? 1 : 0;
}
