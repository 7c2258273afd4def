/* minitcpctl: inspect a running minitcpd over its Unix socket.
 *
 *   minitcpctl [--socket PATH] connections [--json]   every socket (ss -tani style)
 *   minitcpctl [--socket PATH] stats [--json]         every counter, by layer
 *   minitcpctl [--socket PATH] capture [-w FILE|-] [--port P] [--host A] [--snaplen N]
 *              [--ns]                                  live pcap stream (capture.c)
 *
 * It speaks the control requests of the client protocol (proto/frames.h) directly. The
 * socket path defaults to $MINITCP_SOCKET, then /run/minitcp/minitcpd.sock.
 * Exit status: 0 ok, 1 daemon unreachable or protocol error, 2 bad usage. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "frames.h"

#define DEFAULT_SOCKET "/run/minitcp/minitcpd.sock"
#define TIMEOUT_MS 5000

static const char *prog = "minitcpctl";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s [--socket PATH] connections [--json]\n"
            "       %s [--socket PATH] stats [--json]\n"
            "       %s [--socket PATH] capture [-w FILE|-] [--port P] [--host A]\n"
            "                 [--snaplen N] [--ns]\n"
            "Shows minitcpd's sockets (protocol, addresses, state, queues, sequence numbers,\n"
            "windows, RTO/SRTT, retransmissions, owning pid; for TCP a second line like\n"
            "`ss -ti`: congestion control, cwnd, ssthresh, RTT, bytes in flight, SACKed,\n"
            "lost, reordering, delivery rate, negotiated options) or its counters, or\n"
            "streams every IP packet it sends or receives as pcap (LINKTYPE_RAW) to FILE\n"
            "or standard output (-, the default) until interrupted, e.g.\n"
            "`minitcpctl capture | tcpdump -r -`: root or --capture-group only.\n"
            "The socket is PATH, $MINITCP_SOCKET or " DEFAULT_SOCKET ".\n",
            prog, prog, prog);
}

void fail(const char *what, const char *arg, const char *err)
{
    fprintf(stderr, "%s: %s%s%s%s%s\n", prog, what, arg && *arg ? " " : "", arg ? arg : "",
            err ? ": " : "", err ? err : "");
    exit(1);
}

static int connect_daemon(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) fail("socket path too long:", path, NULL);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket", NULL, strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        fail("cannot reach minitcpd at", path, strerror(errno));
    return fd;
}

void send_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            /* a refused client: the daemon's reason is still queued for reading */
            uint8_t f[PROTO_HDR_LEN + 4];
            struct proto_msg m;
            size_t fl;
            if (recv(fd, f, sizeof f, MSG_DONTWAIT) == (ssize_t)sizeof f &&
                proto_decode(f, sizeof f, &m, &fl) == PROTO_OK && m.h.type == PT_EV_ERROR &&
                m.h.sock_id == 0)
                fail("minitcpd refused this client:", strerror(proto_err_to_errno(m.u.error.err)),
                     NULL);
            fail("write to minitcpd", NULL, strerror(e));
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Sends one control request and collects the payloads of its reply frames (PROTO_F_MORE
 * continues) into *out. Returns the reply type. */
static uint8_t transact(int fd, uint8_t type, uint8_t **out, size_t *out_len)
{
    uint8_t req[PROTO_HDR_LEN];
    proto_encode_hdr(req, type, 0, 1, 0, 0);
    send_all(fd, req, sizeof req);

    size_t cap = 2 * PROTO_MAX_FRAME, len = 0, acc_cap = 0;
    uint8_t *buf = malloc(cap);
    *out = NULL;
    *out_len = 0;
    if (!buf) fail("out of memory", NULL, NULL);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, TIMEOUT_MS);
        if (r == 0) fail("minitcpd did not answer", NULL, NULL);
        if (r < 0) {
            if (errno == EINTR) continue;
            fail("poll", NULL, strerror(errno));
        }
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("read from minitcpd", NULL, strerror(errno));
        }
        if (n == 0) fail("minitcpd closed the connection", NULL, NULL);
        len += (size_t)n;
        size_t off = 0;
        for (;;) {
            struct proto_msg m;
            size_t fl;
            int rc = proto_decode(buf + off, len - off, &m, &fl);
            if (rc == PROTO_ETRUNC) break;
            if (rc != PROTO_OK) fail("bad frame from minitcpd:", proto_result_str(rc), NULL);
            off += fl;
            if (m.h.type == PT_EV_ERROR && m.h.sock_id == 0)
                fail("minitcpd refused this client:", strerror(proto_err_to_errno(m.u.error.err)),
                     NULL);
            if (m.h.req_id != 1) continue; /* not ours */
            if (m.h.type == PT_REPLY) {
                fail("minitcpd refused the request:", proto_err_name(m.u.reply.status), NULL);
            }
            if (m.h.type != PT_CONN_LIST && m.h.type != PT_STATS_LIST)
                fail("unexpected reply", proto_type_name(m.h.type), NULL);
            if (*out_len + m.u.data.len > acc_cap) {
                acc_cap = (*out_len + m.u.data.len) * 2 + 1;
                uint8_t *nb = realloc(*out, acc_cap);
                if (!nb) fail("out of memory", NULL, NULL);
                *out = nb;
            }
            if (m.u.data.len) memcpy(*out + *out_len, m.u.data.ptr, m.u.data.len);
            *out_len += m.u.data.len;
            if (!(m.h.flags & PROTO_F_MORE)) {
                free(buf);
                return m.h.type;
            }
        }
        memmove(buf, buf + off, len - off);
        len -= off;
    }
}

static void ip_str(uint32_t a, char *dst)
{
    struct in_addr in = {.s_addr = htonl(a)};
    inet_ntop(AF_INET, &in, dst, INET_ADDRSTRLEN);
}

static const char *proto_name(uint8_t p)
{
    return p == 6 ? "tcp" : p == 17 ? "udp" : "?";
}

/* The `ss -ti` keys of a TCP record, named as in the table's second line. */
static void add_tcp_info(cJSON *o, const struct proto_conn_rec *r)
{
    cJSON_AddStringToObject(o, "cc", r->cc);
    cJSON_AddNumberToObject(o, "cwnd", r->cwnd);
    if (r->ssthresh == UINT32_MAX) /* no loss yet */
        cJSON_AddNullToObject(o, "ssthresh");
    else
        cJSON_AddNumberToObject(o, "ssthresh", r->ssthresh);
    cJSON_AddNumberToObject(o, "rttvar_ms", r->rttvar_ms);
    cJSON_AddNumberToObject(o, "in_flight", r->in_flight);
    cJSON_AddNumberToObject(o, "sacked", r->sacked);
    cJSON_AddNumberToObject(o, "lost", r->lost);
    cJSON_AddNumberToObject(o, "reord_seen", r->reord_seen);
    cJSON_AddNumberToObject(o, "dup_segs_rcvd", r->dup_segs_rcvd);
    cJSON_AddNumberToObject(o, "delivery_rate", (double)r->delivery_rate);
    cJSON_AddBoolToObject(o, "sack", (r->opts & PROTO_CONN_SACK) != 0);
    cJSON_AddBoolToObject(o, "ts", (r->opts & PROTO_CONN_TS) != 0);
    if (r->opts & PROTO_CONN_WS) {
        cJSON *w = cJSON_AddObjectToObject(o, "wscale");
        cJSON_AddNumberToObject(w, "snd", r->snd_wscale);
        cJSON_AddNumberToObject(w, "rcv", r->rcv_wscale);
    } else {
        cJSON_AddNullToObject(o, "wscale");
    }
}

/* The second, indented line of a TCP connection, like `ss -ti`: the same keys as --json
 * (flags only when negotiated, ssthresh only once set). */
static void print_tcp_info(const struct proto_conn_rec *r)
{
    printf("\t cc:%s", r->cc);
    if (r->opts & PROTO_CONN_WS) printf(" wscale:%u,%u", r->snd_wscale, r->rcv_wscale);
    if (r->opts & PROTO_CONN_SACK) printf(" sack");
    if (r->opts & PROTO_CONN_TS) printf(" ts");
    printf(" rto_ms:%u srtt_ms:%u rttvar_ms:%u cwnd:%u", r->rto_ms, r->srtt_ms, r->rttvar_ms,
           r->cwnd);
    if (r->ssthresh != UINT32_MAX) printf(" ssthresh:%u", r->ssthresh);
    printf(" in_flight:%u sacked:%u lost:%u retransmits:%u reord_seen:%u dup_segs_rcvd:%u "
           "delivery_rate:%llu\n",
           r->in_flight, r->sacked, r->lost, r->retransmits, r->reord_seen, r->dup_segs_rcvd,
           (unsigned long long)r->delivery_rate);
}

static int cmd_connections(int fd, bool json)
{
    uint8_t *d;
    size_t n;
    transact(fd, PT_LIST_CONNS, &d, &n);
    size_t count = n / PROTO_CONN_REC_LEN;
    if (json) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < count; i++) {
            struct proto_conn_rec r;
            proto_conn_rec_decode(d + i * PROTO_CONN_REC_LEN, &r);
            char la[INET_ADDRSTRLEN], ra[INET_ADDRSTRLEN];
            ip_str(r.laddr, la);
            ip_str(r.raddr, ra);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "proto", proto_name(r.proto));
            cJSON_AddStringToObject(o, "state", r.state);
            cJSON_AddStringToObject(o, "local_addr", la);
            cJSON_AddNumberToObject(o, "local_port", r.lport);
            cJSON_AddStringToObject(o, "peer_addr", ra);
            cJSON_AddNumberToObject(o, "peer_port", r.rport);
            cJSON_AddNumberToObject(o, "send_queue", r.send_queue);
            cJSON_AddNumberToObject(o, "recv_queue", r.recv_queue);
            cJSON_AddNumberToObject(o, "snd_una", r.snd_una);
            cJSON_AddNumberToObject(o, "snd_nxt", r.snd_nxt);
            cJSON_AddNumberToObject(o, "snd_wnd", r.snd_wnd);
            cJSON_AddNumberToObject(o, "rcv_nxt", r.rcv_nxt);
            cJSON_AddNumberToObject(o, "rcv_wnd", r.rcv_wnd);
            cJSON_AddNumberToObject(o, "rto_ms", r.rto_ms);
            cJSON_AddNumberToObject(o, "srtt_ms", r.srtt_ms);
            cJSON_AddNumberToObject(o, "retransmits", r.retransmits);
            if (r.proto == 6) add_tcp_info(o, &r);
            /* another uid's connection: its uid, but not its pid (docs/security.md) */
            if (r.pid)
                cJSON_AddNumberToObject(o, "pid", r.pid);
            else
                cJSON_AddNullToObject(o, "pid");
            if (r.pid || r.uid)
                cJSON_AddNumberToObject(o, "uid", r.uid);
            else
                cJSON_AddNullToObject(o, "uid");
            cJSON_AddItemToArray(arr, o);
        }
        char *s = cJSON_Print(arr);
        if (!s) fail("out of memory", NULL, NULL);
        puts(s);
        cJSON_free(s);
        cJSON_Delete(arr);
    } else {
        printf("%-5s %-12s %8s %8s %-21s %-21s %10s %10s %10s %7s %7s %6s %6s %5s %s\n", "Proto",
               "State", "Send-Q", "Recv-Q", "Local", "Peer", "snd_una", "snd_nxt", "rcv_nxt",
               "snd_wnd", "rcv_wnd", "rto", "srtt", "retr", "pid");
        for (size_t i = 0; i < count; i++) {
            struct proto_conn_rec r;
            proto_conn_rec_decode(d + i * PROTO_CONN_REC_LEN, &r);
            char la[INET_ADDRSTRLEN], ra[INET_ADDRSTRLEN], l[32], p[32], pid[16];
            ip_str(r.laddr, la);
            ip_str(r.raddr, ra);
            snprintf(l, sizeof l, "%s:%u", la, r.lport);
            if (r.rport)
                snprintf(p, sizeof p, "%s:%u", ra, r.rport);
            else
                snprintf(p, sizeof p, "*:*");
            if (r.pid)
                snprintf(pid, sizeof pid, "%u", r.pid);
            else
                snprintf(pid, sizeof pid, "-");
            printf("%-5s %-12s %8u %8u %-21s %-21s %10u %10u %10u %7u %7u %6u %6u %5u %s\n",
                   proto_name(r.proto), r.state, r.send_queue, r.recv_queue, l, p, r.snd_una,
                   r.snd_nxt, r.rcv_nxt, r.snd_wnd, r.rcv_wnd, r.rto_ms, r.srtt_ms, r.retransmits,
                   pid);
            if (r.proto == 6 && r.cc[0] && strcmp(r.state, "LISTEN")) print_tcp_info(&r);
        }
    }
    free(d);
    return 0;
}

static int cmd_stats(int fd, bool json)
{
    uint8_t *d;
    size_t n;
    transact(fd, PT_STATS, &d, &n);
    size_t off = 0;
    struct proto_stat_rec r;
    int rc;
    cJSON *root = json ? cJSON_CreateObject() : NULL;
    if (!json) printf("%-6s %-24s %20s  %s\n", "layer", "counter", "value", "description");
    while ((rc = proto_stat_rec_next(d, n, &off, &r)) == 1) {
        if (json) {
            cJSON *layer = cJSON_GetObjectItemCaseSensitive(root, r.layer);
            if (!layer) layer = cJSON_AddObjectToObject(root, r.layer);
            cJSON_AddNumberToObject(layer, r.name, (double)r.value);
        } else {
            printf("%-6s %-24s %20llu  %s\n", r.layer, r.name, (unsigned long long)r.value, r.desc);
        }
    }
    if (rc < 0) fail("malformed statistics from minitcpd", NULL, NULL);
    if (json) {
        char *s = cJSON_Print(root);
        if (!s) fail("out of memory", NULL, NULL);
        puts(s);
        cJSON_free(s);
        cJSON_Delete(root);
    }
    free(d);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},  {"json", no_argument, NULL, 'j'},
        {"port", required_argument, NULL, 'p'},    {"host", required_argument, NULL, 'H'},
        {"snaplen", required_argument, NULL, 'S'}, {"ns", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},          {0}};
    const char *path = getenv("MINITCP_SOCKET");
    if (!path || !*path) path = DEFAULT_SOCKET;
    bool json = false;
    bool cap_opt = false; /* an option only capture takes */
    struct capture_opts co = {.file = "-"};
    int c;
    /* options may come before or after the command */
    while ((c = getopt_long(argc, argv, "s:jhw:", opts, NULL)) != -1) {
        cap_opt |= c == 'w' || c == 'p' || c == 'H' || c == 'S' || c == 'n';
        switch (c) {
        case 's':
            path = optarg;
            break;
        case 'w':
            co.file = optarg;
            break;
        case 'p':
        case 'S': {
            char *end;
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            unsigned long max = c == 'p' ? 65535 : 262144;
            if (errno || end == optarg || *end || optarg[0] == '-' || v < 1 || v > max) {
                fprintf(stderr, "%s: %s: '%s' is not a number in 1..%lu\n", prog,
                        c == 'p' ? "--port" : "--snaplen", optarg, max);
                return 2;
            }
            if (c == 'p')
                co.port = (uint16_t)v;
            else
                co.snaplen = (uint32_t)v;
            break;
        }
        case 'H': {
            struct in_addr a;
            if (inet_pton(AF_INET, optarg, &a) != 1 || a.s_addr == 0) {
                fprintf(stderr, "%s: --host: '%s' is not an IPv4 address\n", prog, optarg);
                return 2;
            }
            co.host = ntohl(a.s_addr);
            break;
        }
        case 'n':
            co.ns = true;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "%s: %s\n", prog,
                optind == argc ? "missing command" : "too many arguments");
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    bool capture = !strcmp(cmd, "capture");
    if (strcmp(cmd, "connections") && strcmp(cmd, "stats") && !capture) {
        fprintf(stderr, "%s: unknown command '%s'\n", prog, cmd);
        usage(stderr);
        return 2;
    }
    if ((cap_opt && !capture) || (capture && json)) {
        fprintf(stderr, "%s: %s\n", prog,
                capture ? "capture takes no --json"
                        : "-w, --port, --host, --snaplen and --ns are capture's options");
        usage(stderr);
        return 2;
    }
    int fd = connect_daemon(path);
    int rc = capture                       ? cmd_capture(fd, &co)
             : !strcmp(cmd, "connections") ? cmd_connections(fd, json)
                                           : cmd_stats(fd, json);
    close(fd);
    return rc;
}
