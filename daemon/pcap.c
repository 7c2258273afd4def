#include "pcap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

void pcap_encode_file_header(uint8_t out[PCAP_FILE_HDR], bool ns, uint32_t snaplen)
{
    put32(out, ns ? PCAP_MAGIC_NS : PCAP_MAGIC_US);
    out[4] = 2; /* version 2.4 */
    out[5] = 0;
    out[6] = 4;
    out[7] = 0;
    put32(out + 8, 0);  /* thiszone: timestamps are UTC */
    put32(out + 12, 0); /* sigfigs */
    put32(out + 16, snaplen);
    put32(out + 20, PCAP_LINKTYPE_RAW);
}

void pcap_encode_record_header(uint8_t out[PCAP_REC_HDR], bool ns, const struct timespec *ts,
                               uint32_t caplen, uint32_t origlen)
{
    put32(out, (uint32_t)ts->tv_sec);
    put32(out + 4, ns ? (uint32_t)ts->tv_nsec : (uint32_t)(ts->tv_nsec / 1000));
    put32(out + 8, caplen);
    put32(out + 12, origlen);
}

__attribute__((format(printf, 2, 3))) static void logf_(struct pcap_writer *w, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (w->log)
        w->log(w->log_ctx, line);
    else
        fprintf(stderr, "%s\n", line);
}

/* Stops the capture after an error: the file keeps only complete records. */
static void stop(struct pcap_writer *w, const char *what, int err, uint64_t good_bytes)
{
    w->packets -= w->buf_packets; /* lost with the buffer */
    w->buf_packets = 0;
    logf_(w, "minitcpd: pcap: %s %s: %s; capture stopped after %llu packets, the stack goes on",
          what, w->path, strerror(err), (unsigned long long)w->packets);
    if (ftruncate(w->fd, (off_t)good_bytes) < 0) { /* best effort: a trailing partial record */
    }
    close(w->fd);
    w->fd = -1;
    w->buf_len = 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = write(fd, p, n);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (r == 0) return -EIO;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int open_file(struct pcap_writer *w)
{
    int fd = open(w->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return -errno;
    w->fd = fd;
    pcap_encode_file_header(w->buf, w->ns, w->snaplen);
    w->buf_len = PCAP_FILE_HDR;
    w->file_bytes = PCAP_FILE_HDR;
    return 0;
}

int pcap_open(struct pcap_writer *w, const char *path, bool ns, uint32_t snaplen, uint64_t max_size)
{
    w->fd = -1;
    w->path = strdup(path);
    if (!w->path) return -ENOMEM;
    w->ns = ns;
    w->snaplen = snaplen ? snaplen : PCAP_SNAPLEN_DEFAULT;
    w->max_size = max_size;
    w->packets = w->rotations = 0;
    int r = open_file(w);
    if (r < 0) {
        logf_(w, "minitcpd: pcap: cannot create %s: %s", path, strerror(-r));
        free(w->path);
        w->path = NULL;
        return r;
    }
    pcap_flush(w); /* the header is on disk at once: an empty capture is a valid file */
    return pcap_running(w) ? 0 : -EIO;
}

void pcap_flush(struct pcap_writer *w)
{
    if (w->fd < 0 || !w->buf_len) return;
    uint64_t good = w->file_bytes - w->buf_len;
    int r = write_all(w->fd, w->buf, w->buf_len);
    if (r < 0) {
        stop(w, "write", -r, good);
        return;
    }
    w->buf_len = 0;
    w->buf_packets = 0;
}

/* FILE becomes FILE.1 (replacing the previous one) and a new FILE starts: the capture
 * holds the newest max_size bytes or more, at most twice that on disk. */
static void rotate(struct pcap_writer *w)
{
    pcap_flush(w);
    if (w->fd < 0) return;
    close(w->fd);
    w->fd = -1;
    size_t n = strlen(w->path) + 3;
    char *old = malloc(n);
    int r = old ? 0 : -ENOMEM;
    if (!r) {
        snprintf(old, n, "%s.1", w->path);
        if (rename(w->path, old) < 0) r = -errno;
    }
    free(old);
    if (!r) r = open_file(w);
    if (r < 0) {
        logf_(w,
              "minitcpd: pcap: cannot rotate %s: %s; capture stopped after %llu packets, the "
              "stack goes on",
              w->path, strerror(-r), (unsigned long long)w->packets);
        return;
    }
    w->rotations++;
}

void pcap_packet(struct pcap_writer *w, const uint8_t *pkt, size_t len, const struct timespec *ts)
{
    if (w->fd < 0) return;
    uint32_t cap = len > w->snaplen ? w->snaplen : (uint32_t)len;
    size_t rec = PCAP_REC_HDR + cap;
    if (w->max_size && w->file_bytes > PCAP_FILE_HDR && w->file_bytes + rec > w->max_size) {
        rotate(w);
        if (w->fd < 0) return;
    }
    if (w->buf_len + rec > sizeof w->buf) {
        pcap_flush(w);
        if (w->fd < 0) return;
    }
    if (rec > sizeof w->buf) { /* a snap length beyond the buffer: straight to the file */
        uint8_t hdr[PCAP_REC_HDR];
        pcap_encode_record_header(hdr, w->ns, ts, cap, (uint32_t)len);
        int r = write_all(w->fd, hdr, sizeof hdr);
        if (!r) r = write_all(w->fd, pkt, cap);
        if (r < 0) {
            stop(w, "write", -r, w->file_bytes);
            return;
        }
    } else {
        pcap_encode_record_header(w->buf + w->buf_len, w->ns, ts, cap, (uint32_t)len);
        memcpy(w->buf + w->buf_len + PCAP_REC_HDR, pkt, cap);
        w->buf_len += rec;
        w->buf_packets++;
    }
    w->file_bytes += rec;
    w->packets++;
}

void pcap_close(struct pcap_writer *w)
{
    pcap_flush(w);
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
    free(w->path);
    w->path = NULL;
}
