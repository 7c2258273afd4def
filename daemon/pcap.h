/* Packet capture to a pcap file (the classic libpcap format, LINKTYPE_RAW: every record
 * is an IPv4 packet from its first byte). Fed by the daemon where it reads and writes the
 * TUN device; the stack core knows nothing of it. Records are buffered and written once
 * per loop iteration (pcap_flush) or when the buffer fills. A write error (disk full)
 * stops the capture with one log line; the daemon goes on. */
#ifndef MINITCP_PCAP_H
#define MINITCP_PCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define PCAP_LINKTYPE_RAW 101
#define PCAP_MAGIC_US 0xa1b2c3d4u
#define PCAP_MAGIC_NS 0xa1b23c4du
#define PCAP_FILE_HDR 24
#define PCAP_REC_HDR 16
#define PCAP_SNAPLEN_DEFAULT 262144u
#define PCAP_BUF 65536u

struct pcap_writer {
    int fd; /* -1: not capturing (never opened, closed, or stopped on an error) */
    char *path;
    bool ns;             /* nanosecond timestamps */
    uint32_t snaplen;    /* bytes kept of each packet */
    uint64_t max_size;   /* rotate when the file would grow beyond (0 = never) */
    uint64_t file_bytes; /* of the current file, written and buffered */
    uint64_t packets;    /* records taken, over all files (on disk once flushed) */
    uint32_t buf_packets; /* of them, still in buf */
    uint64_t rotations;
    size_t buf_len;
    uint8_t buf[PCAP_BUF];
    /* one line per event (error, rotation failure); stderr when NULL */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
};

/* Encoders, pure, little-endian (readers detect the byte order from the magic). */
void pcap_encode_file_header(uint8_t out[PCAP_FILE_HDR], bool ns, uint32_t snaplen);
void pcap_encode_record_header(uint8_t out[PCAP_REC_HDR], bool ns, const struct timespec *ts,
                               uint32_t caplen, uint32_t origlen);

/* Creates (truncates) path, mode 0600, and writes the file header. 0, or -errno with a
 * message. */
int pcap_open(struct pcap_writer *w, const char *path, bool ns, uint32_t snaplen,
              uint64_t max_size);
/* One packet seen at ts (CLOCK_REALTIME). Nothing when the capture is not running. */
void pcap_packet(struct pcap_writer *w, const uint8_t *pkt, size_t len, const struct timespec *ts);
/* Writes what is buffered. */
void pcap_flush(struct pcap_writer *w);
/* Flushes and closes; the writer may be opened again. */
void pcap_close(struct pcap_writer *w);
static inline bool pcap_running(const struct pcap_writer *w)
{
    return w->fd >= 0;
}

#endif
