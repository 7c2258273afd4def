/* daemon/pcap.c: the exact bytes of the pcap file (file header, record headers, snap
 * length), rotation by size, and a write error that stops the capture with one line. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pcap.h"

static char dir[64];
static char path[128];

static void setup(void)
{
    strcpy(dir, "/tmp/minitcp-pcap-test.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/cap.pcap", dir);
}

static void teardown(void)
{
    char p[160];
    unlink(path);
    snprintf(p, sizeof p, "%s.1", path);
    unlink(p);
    rmdir(dir);
}

TestSuite(pcap, .init = setup, .fini = teardown);

static size_t slurp(const char *p, uint8_t *out, size_t cap)
{
    int fd = open(p, O_RDONLY);
    cr_assert_geq(fd, 0, "open %s", p);
    ssize_t n = read(fd, out, cap);
    close(fd);
    cr_assert_geq(n, 0);
    return (size_t)n;
}

static struct {
    int n;
    char last[512];
} logs;

static void log_cb(void *ctx, const char *line)
{
    (void)ctx;
    logs.n++;
    snprintf(logs.last, sizeof logs.last, "%s", line);
}

Test(pcap, file_header_microseconds)
{
    static const uint8_t want[PCAP_FILE_HDR] = {0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0,   0, 0, 0,
                                                0,    0,    0,    0,    0, 0, 4, 0, 101, 0, 0, 0};
    uint8_t b[PCAP_FILE_HDR];
    pcap_encode_file_header(b, false, 262144);
    cr_assert_arr_eq(b, want, sizeof want);
}

Test(pcap, file_header_nanoseconds_and_snaplen)
{
    static const uint8_t want[PCAP_FILE_HDR] = {0x4d, 0x3c, 0xb2, 0xa1, 2,  0, 4, 0, 0,   0, 0, 0,
                                                0,    0,    0,    0,    96, 0, 0, 0, 101, 0, 0, 0};
    uint8_t b[PCAP_FILE_HDR];
    pcap_encode_file_header(b, true, 96);
    cr_assert_arr_eq(b, want, sizeof want);
}

Test(pcap, record_header_us_and_ns)
{
    struct timespec ts = {.tv_sec = 0x65432100, .tv_nsec = 123456789};
    uint8_t b[PCAP_REC_HDR];
    pcap_encode_record_header(b, false, &ts, 40, 60);
    static const uint8_t us[] = {0x00, 0x21, 0x43, 0x65, 0x40, 0xe2, 0x01, 0x00, /* 123456 */
                                 40,   0,    0,    0,    60,   0,    0,    0};
    cr_assert_arr_eq(b, us, sizeof us);
    pcap_encode_record_header(b, true, &ts, 40, 60);
    static const uint8_t ns[] = {0x00, 0x21, 0x43, 0x65, 0x15, 0xcd, 0x5b, 0x07, /* 123456789 */
                                 40,   0,    0,    0,    60,   0,    0,    0};
    cr_assert_arr_eq(b, ns, sizeof ns);
}

/* Two packets, the second longer than the snap length: the whole file, byte for byte. */
Test(pcap, whole_file_exact_bytes_with_snaplen)
{
    struct pcap_writer w;
    memset(&w, 0, sizeof w);
    cr_assert_eq(pcap_open(&w, path, false, 8, 0), 0);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600, "a capture is private: mode %o", sb.st_mode & 0777);
    cr_assert_eq(sb.st_size, PCAP_FILE_HDR, "the header is written at open");
    const uint8_t p1[4] = {0x45, 0x00, 0x00, 0x04};
    uint8_t p2[20];
    for (int i = 0; i < 20; i++)
        p2[i] = (uint8_t)(0xa0 + i);
    struct timespec t1 = {.tv_sec = 1, .tv_nsec = 2000}, t2 = {.tv_sec = 3, .tv_nsec = 999999999};
    pcap_packet(&w, p1, sizeof p1, &t1);
    pcap_packet(&w, p2, sizeof p2, &t2);
    cr_assert_eq(w.packets, 2);
    pcap_close(&w);
    cr_assert_not(pcap_running(&w));

    uint8_t want[PCAP_FILE_HDR + 16 + 4 + 16 + 8];
    pcap_encode_file_header(want, false, 8);
    uint8_t *p = want + PCAP_FILE_HDR;
    static const uint8_t r1[] = {1, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0};
    memcpy(p, r1, 16);
    memcpy(p + 16, p1, 4);
    p += 20;
    /* 999999999 ns = 999999 us = 0x000f423f; caplen 8, origlen 20 */
    static const uint8_t r2[] = {3, 0, 0, 0, 0x3f, 0x42, 0x0f, 0, 8, 0, 0, 0, 20, 0, 0, 0};
    memcpy(p, r2, 16);
    memcpy(p + 16, p2, 8);
    uint8_t got[256];
    size_t n = slurp(path, got, sizeof got);
    cr_assert_eq(n, sizeof want);
    cr_assert_arr_eq(got, want, sizeof want);
}

/* --pcap-max: the record that would pass the size starts a new file; the old one is .1. */
Test(pcap, rotation_by_size)
{
    struct pcap_writer w;
    memset(&w, 0, sizeof w);
    /* header 24 + two records of 16+10 = 76; a third would make 102 > 90 */
    cr_assert_eq(pcap_open(&w, path, true, 0, 90), 0);
    uint8_t pkt[10];
    struct timespec ts = {.tv_sec = 7, .tv_nsec = 5};
    for (int i = 0; i < 3; i++) {
        memset(pkt, i + 1, sizeof pkt);
        pcap_packet(&w, pkt, sizeof pkt, &ts);
    }
    cr_assert_eq(w.rotations, 1);
    pcap_close(&w);
    char old[160];
    snprintf(old, sizeof old, "%s.1", path);
    uint8_t got[256], hdr[PCAP_FILE_HDR];
    pcap_encode_file_header(hdr, true, PCAP_SNAPLEN_DEFAULT);
    size_t n = slurp(old, got, sizeof got);
    cr_assert_eq(n, 24 + 2 * 26, "the first file holds packets 1 and 2 (%zu bytes)", n);
    cr_assert_arr_eq(got, hdr, sizeof hdr);
    cr_assert_eq(got[24 + 16], 1);
    cr_assert_eq(got[24 + 26 + 16], 2);
    cr_assert_eq(got[24 + 4], 5, "nanosecond field");
    n = slurp(path, got, sizeof got);
    cr_assert_eq(n, 24 + 26, "the new file starts with its own header and packet 3");
    cr_assert_arr_eq(got, hdr, sizeof hdr);
    cr_assert_eq(got[24 + 16], 3);
}

/* A full disk: one log line, the capture stops, later packets cost nothing. */
Test(pcap, write_error_stops_with_one_line)
{
    struct pcap_writer w;
    memset(&w, 0, sizeof w);
    w.log = log_cb;
    logs.n = 0;
    cr_assert_eq(pcap_open(&w, path, false, 0, 0), 0);
    int full = open("/dev/full", O_WRONLY);
    cr_assert_geq(full, 0);
    cr_assert_geq(dup2(full, w.fd), 0); /* the file's descriptor now hits ENOSPC */
    close(full);
    uint8_t pkt[100] = {0x45};
    struct timespec ts = {0};
    for (int i = 0; i < 1000; i++) { /* more than the buffer: flushes on its own */
        pcap_packet(&w, pkt, sizeof pkt, &ts);
        pcap_flush(&w);
    }
    cr_assert_eq(logs.n, 1, "one line, got %d", logs.n);
    cr_assert(strstr(logs.last, "No space left on device") != NULL, "%s", logs.last);
    cr_assert(strstr(logs.last, "capture stopped after 0 packets") != NULL, "%s", logs.last);
    cr_assert_not(pcap_running(&w));
    cr_assert_eq(w.packets, 0, "the buffered packet never reached the file");
    pcap_close(&w);
    cr_assert_eq(logs.n, 1);
}

Test(pcap, unwritable_path_fails_at_open)
{
    struct pcap_writer w;
    memset(&w, 0, sizeof w);
    w.log = log_cb;
    logs.n = 0;
    cr_assert_lt(pcap_open(&w, "/nonexistent-dir/x.pcap", false, 0, 0), 0);
    cr_assert_eq(logs.n, 1);
    cr_assert(strstr(logs.last, "cannot create /nonexistent-dir/x.pcap") != NULL, "%s", logs.last);
    cr_assert_not(pcap_running(&w));
}
