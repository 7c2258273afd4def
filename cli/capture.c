/* minitcpctl capture: a live pcap stream from minitcpd (docs/ipc.md "Live capture").
 * Writes the pcap file header, then the records of every CAPTURE_DATA frame as they come,
 * flushed at once (a pipe into tcpdump or Wireshark sees packets live). SIGINT, SIGTERM or
 * SIGHUP, or a reader of the output gone (EPIPE), ends it cleanly: CAPTURE_STOP, the last
 * records, and a summary line on stderr with the packets the daemon dropped for us. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"
#include "frames.h"
#include "pcap.h"

#define REQ_START 1
#define REQ_STOP 2
#define STOP_TIMEOUT_MS 5000

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* Writes to the output; false once it is gone (EPIPE: the reader exited). */
static bool out_write(int out, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(out, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EPIPE) return false;
            fail("capture: write", NULL, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void send_frame(int fd, uint8_t type, uint32_t req, const struct capture_opts *o)
{
    struct proto_msg m = {.h = {.type = type, .req_id = req}};
    if (o) {
        m.u.capture.host = o->host;
        m.u.capture.port = o->port;
        m.u.capture.flags = o->ns ? PROTO_CAPTURE_NS : 0;
        m.u.capture.snaplen = o->snaplen;
    }
    uint8_t f[PROTO_HDR_LEN + 12];
    long n = proto_encode(&m, f, sizeof f);
    if (n < 0) fail("capture: cannot encode a request", NULL, NULL);
    send_all(fd, f, (size_t)n);
}

int cmd_capture(int fd, const struct capture_opts *o)
{
    int out = STDOUT_FILENO;
    if (strcmp(o->file, "-")) {
        out = open(o->file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (out < 0) fail("capture: cannot open", o->file, strerror(errno));
    } else if (isatty(out)) {
        fail("capture: standard output is a terminal; use -w FILE or a pipe", NULL, NULL);
    }
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: poll returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    send_frame(fd, PT_CAPTURE, REQ_START, o);
    size_t cap = 2 * PROTO_MAX_FRAME, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) fail("out of memory", NULL, NULL);
    bool started = false, stop_sent = false, out_ok = true;
    for (;;) {
        if ((stop_signal || !out_ok) && started && !stop_sent) {
            send_frame(fd, PT_CAPTURE_STOP, REQ_STOP, NULL);
            stop_sent = true;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, stop_sent || !started ? STOP_TIMEOUT_MS : -1);
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
            if (m.h.type == PT_CAPTURE_DATA) {
                if (out_ok) out_ok = out_write(out, m.u.capdata.ptr, m.u.capdata.len);
                continue;
            }
            if (m.h.type != PT_REPLY) continue;
            int e = proto_err_to_errno(m.u.reply.status);
            if (m.h.req_id == REQ_START) {
                if (m.u.reply.status != PE_OK)
                    fail("capture refused:", strerror(e),
                         e == EACCES ? "only root or members of minitcpd's --capture-group" : NULL);
                uint8_t fh[PCAP_FILE_HDR];
                pcap_encode_file_header(fh, o->ns, m.u.reply.val1);
                out_ok = out_write(out, fh, sizeof fh);
                started = true;
            } else if (m.h.req_id == REQ_STOP) {
                if (m.u.reply.status != PE_OK) fail("capture stop refused:", strerror(e), NULL);
                fprintf(stderr,
                        "minitcpctl: capture: %u packets, %u dropped by minitcpd (reader too "
                        "slow)%s\n",
                        m.u.reply.val0, m.u.reply.val1, out_ok ? "" : "; output closed");
                free(buf);
                if (out != STDOUT_FILENO && close(out) < 0)
                    fail("capture: close", o->file, strerror(errno));
                return 0;
            }
        }
        memmove(buf, buf + off, len - off);
        len -= off;
    }
}
