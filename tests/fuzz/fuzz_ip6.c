/* libFuzzer target: IPv6 input (ip6_parse's extension-header walk, icmp6.c) through
 * stack_input with --addr6 fd00::2.
 *
 * Input: byte 0 flags, the rest is one packet.
 *   bit 0  set version 6 and the payload length to the bytes after the fixed header
 *   bit 1  set the destination to fd00::2 and the source to fd00::1
 *   bit 2  when the fixed header's next header is 58, 17 or 6, recompute the ICMPv6, UDP
 *          or TCP checksum (UDP: and set its length to the payload's)
 *   bit 3  the rest is several packets, each after a 2-byte length (big-endian), each
 *          fixed up as above: fragments reach the IPv6 reassembler together; then the
 *          reassembly timeout runs
 * so the fuzzer reaches the ICMPv6 code without guessing checksums. Every packet the
 * stack emits must be IPv6 from fd00::2, within the MTU and 1280 for errors, with its
 * payload length right and a valid ICMPv6, UDP or TCP checksum; a violation aborts. TCP
 * reaches the echo service on port 7 (both families). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "ip6.h"
#include "stack.h"

static const uint8_t US[16] = {0xfd, [15] = 2};
static const uint8_t PEER[16] = {0xfd, [15] = 1};

static void fz_fail(const char *why)
{
    fprintf(stderr, "fuzz_ip6: emitted packet violates: %s\n", why);
    abort();
}

static void fz_output(void *ctx, const uint8_t *p, size_t len)
{
    (void)ctx;
    if (len < IPV6_HDR_LEN + 8 || (p[0] >> 4) != 6) fz_fail("not IPv6");
    if (len > 1500) fz_fail("larger than the MTU");
    if ((size_t)((p[4] << 8) | p[5]) != len - IPV6_HDR_LEN) fz_fail("payload length");
    if (memcmp(p + 8, US, 16) != 0) fz_fail("source is not us");
    if (p[6] == 44) { /* a fragment of a reply: ICMPv6 or UDP, 8-byte multiples but the last */
        if (len < IPV6_HDR_LEN + 8 + 8 || (p[40] != IP6_NH_ICMPV6 && p[40] != 17))
            fz_fail("fragment");
        if ((p[43] & 1) && (len - IPV6_HDR_LEN - 8) % 8) fz_fail("fragment length");
        return;
    }
    if (p[6] != IP6_NH_ICMPV6 && p[6] != 17 && p[6] != 6) fz_fail("neither ICMPv6, UDP nor TCP");
    if (p[6] == 6 && len < IPV6_HDR_LEN + 20) fz_fail("TCP header");
    if (p[6] == 17 && (size_t)((p[44] << 8) | p[45]) != len - IPV6_HDR_LEN) fz_fail("UDP length");
    if (p[6] == IP6_NH_ICMPV6 && p[40] < 128 && len > IPV6_MIN_MTU)
        fz_fail("error larger than 1280");
    uint32_t s = ip6_pseudo_sum(p + 8, p + 24, p[6], (uint32_t)(len - IPV6_HDR_LEN));
    if (csum_finish(csum_add(s, p + IPV6_HDR_LEN, len - IPV6_HDR_LEN)) != 0)
        fz_fail("ICMPv6/UDP/TCP checksum");
}

static void fixup(uint8_t *pkt, size_t len, uint8_t flags)
{
    if ((flags & 1) && len >= IPV6_HDR_LEN && len - IPV6_HDR_LEN <= 65535) {
        pkt[0] = (uint8_t)(0x60 | (pkt[0] & 0x0f));
        pkt[4] = (uint8_t)((len - IPV6_HDR_LEN) >> 8);
        pkt[5] = (uint8_t)(len - IPV6_HDR_LEN);
    }
    if ((flags & 2) && len >= IPV6_HDR_LEN) {
        memcpy(pkt + 8, PEER, 16);
        memcpy(pkt + 24, US, 16);
    }
    if ((flags & 4) && len >= IPV6_HDR_LEN + 4 && pkt[6] == IP6_NH_ICMPV6) {
        pkt[42] = pkt[43] = 0;
        uint32_t s =
            ip6_pseudo_sum(pkt + 8, pkt + 24, IP6_NH_ICMPV6, (uint32_t)(len - IPV6_HDR_LEN));
        uint16_t c = csum_finish(csum_add(s, pkt + IPV6_HDR_LEN, len - IPV6_HDR_LEN));
        pkt[42] = (uint8_t)(c >> 8);
        pkt[43] = (uint8_t)c;
    }
    if ((flags & 4) && len >= IPV6_HDR_LEN + 8 && len - IPV6_HDR_LEN <= 65535 && pkt[6] == 17) {
        size_t ul = len - IPV6_HDR_LEN;
        pkt[44] = (uint8_t)(ul >> 8);
        pkt[45] = (uint8_t)ul;
        pkt[46] = pkt[47] = 0;
        uint32_t s = ip6_pseudo_sum(pkt + 8, pkt + 24, 17, (uint32_t)ul);
        uint16_t c = csum_finish(csum_add(s, pkt + IPV6_HDR_LEN, ul));
        pkt[46] = (uint8_t)(c >> 8);
        pkt[47] = (uint8_t)c;
    }
    if ((flags & 4) && len >= IPV6_HDR_LEN + 20 && len - IPV6_HDR_LEN <= 65535 && pkt[6] == 6) {
        size_t tl = len - IPV6_HDR_LEN;
        pkt[56] = pkt[57] = 0;
        uint32_t s = ip6_pseudo_sum(pkt + 8, pkt + 24, 6, (uint32_t)tl);
        uint16_t c = csum_finish(csum_add(s, pkt + IPV6_HDR_LEN, tl));
        pkt[56] = (uint8_t)(c >> 8);
        pkt[57] = (uint8_t)c;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t pkt[70000];
    if (size < 1 || size - 1 > sizeof pkt) return 0;
    uint8_t flags = data[0];
    size_t len = size - 1;
    struct stack_config cfg;
    stack_config_defaults(&cfg);
    cfg.addr = 0x0a000002u;
    memcpy(cfg.addr6, US, 16);
    cfg.has_addr6 = true;
    cfg.udp_echo_port = 9000;
    cfg.tcp_echo_port = 7;
    cfg.output = fz_output;
    struct stack *st = stack_new(&cfg);
    if (!st) return 0;
    if (flags & 8) {
        for (size_t at = 1; at + 2 <= size;) {
            size_t n = (size_t)data[at] << 8 | data[at + 1];
            at += 2;
            if (n > size - at) n = size - at;
            memcpy(pkt, data + at, n);
            fixup(pkt, n, flags);
            stack_input(st, pkt, n, 1000);
            at += n;
        }
        stack_poll(st, 1000 + 60000); /* the IPv6 reassembly timeout */
    } else {
        memcpy(pkt, data + 1, len);
        fixup(pkt, len, flags);
        stack_input(st, pkt, len, 1000);
        stack_input(st, pkt, len, 1000); /* twice: the error rate limit's state too */
    }
    stack_free(st);
    return 0;
}
