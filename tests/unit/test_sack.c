/* SACK (RFC 2018) negotiation and the receiver's blocks, D-SACK (RFC 2883), against
 * crafted segments: exact option bytes, blocks and their order. */
#include "tcp_state_fixture.h"

static const uint8_t syn_opts[8] = {2, 4, 0x05, 0xb4, 1, 1, 4, 2}; /* MSS 1460, SACK-perm */

static bool active; /* our connection is the active open: the ports swap */

static void seg_opt(uint8_t flags, uint32_t seq, uint32_t ack, const void *data, size_t len,
                    const uint8_t *opt, size_t optlen)
{
    struct th_spec s = {.sport = active ? LPORT : PPORT,
                        .dport = active ? PPORT : LPORT,
                        .seq = seq,
                        .ack = ack,
                        .flags = flags,
                        .wnd = WIN,
                        .opt = opt,
                        .optlen = optlen,
                        .data = data,
                        .len = len};
    th_seg(E, &s);
}

static struct tcb *tcb_of(void)
{
    struct tcb *t = active
                        ? tcb_lookup(E->st, ipa_from_v4(TH_US), PPORT, ipa_from_v4(TH_PEER), LPORT)
                        : tcb_lookup(E->st, ipa_from_v4(TH_US), LPORT, ipa_from_v4(TH_PEER), PPORT);
    cr_assert(t);
    return t;
}

/* Passive open with (or without) SACK-permitted in the peer's SYN. */
static int open_sack(bool peer_sack)
{
    int lh = stack_tcp_listen(E->st, LPORT, 8);
    cr_assert_gt(lh, 0);
    seg_opt(THF_SYN, PISN, 0, NULL, 0, syn_opts, peer_sack ? 8 : 4);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    cr_assert_eq(O.sack_perm, peer_sack, "the SYN-ACK echoes SACK-permitted only if offered");
    seg(THF_ACK, PISN + 1, ISS + 1, NULL, 0);
    int h = stack_tcp_accept(E->st, lh);
    cr_assert_gt(h, 0);
    cr_assert_eq(tcb_of()->sack_ok, peer_sack);
    return h;
}

static void expect_blocks(uint32_t ack, int n, const uint32_t (*b)[2])
{
    cr_assert(th_pop(E, &O), "expected an ACK");
    cr_assert_eq(O.ack, ack, "ack %u, want %u", O.ack, ack);
    cr_assert_eq(O.nsack, n, "%d SACK blocks, want %d", O.nsack, n);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(O.sack[i][0], b[i][0], "block %d starts at %u, want %u", i, O.sack[i][0],
                     b[i][0]);
        cr_assert_eq(O.sack[i][1], b[i][1], "block %d ends at %u, want %u", i, O.sack[i][1],
                     b[i][1]);
    }
}

static void sack_setup(void)
{
    active = false;
    setup();
}

TestSuite(sack, .init = sack_setup, .fini = teardown);

static uint8_t D[2000];
#define R (PISN + 1)
#define DATA(off, len) seg_opt(THF_ACK, R + (off), ISS + 1, D, (len), NULL, 0)

Test(sack, active_open_offers_sack_permitted_and_takes_the_answer)
{
    active = true;
    int h = stack_tcp_connect(E->st, TH_PEER, LPORT, PPORT, 0);
    cr_assert_gt(h, 0);
    expect(THF_SYN, ISS, 0, 0);
    cr_assert(O.sack_perm);
    cr_assert_eq(O.optlen, 20, "MSS, NOP, WS, SACK-permitted, TS (RFC 7323, on by default)");
    seg_opt(THF_SYN | THF_ACK, PISN, ISS + 1, NULL, 0, syn_opts, 8);
    expect(THF_ACK, ISS + 1, PISN + 1, 0);
    cr_assert(tcb_of()->sack_ok);
}

Test(sack, active_open_without_the_peers_sack_permitted_never_sacks)
{
    active = true;
    int h = stack_tcp_connect(E->st, TH_PEER, LPORT, PPORT, 0);
    expect(THF_SYN, ISS, 0, 0);
    seg_opt(THF_SYN | THF_ACK, PISN, ISS + 1, NULL, 0, syn_opts, 4);
    expect(THF_ACK, ISS + 1, PISN + 1, 0);
    cr_assert(!tcb_of()->sack_ok);
    DATA(100, 100);
    expect(THF_ACK, ISS + 1, R, 0);
    cr_assert_eq(O.nsack, 0);
    cr_assert_eq(O.optlen, 0);
    (void)h;
}

Test(sack, configured_off_neither_offered_nor_accepted)
{
    struct stack_config cfg;
    th_free(E);
    th_config(&cfg, TH_US);
    cfg.sack = false;
    E = th_new(&cfg, false);
    tcp_test_set_isn(E->st, ISS);
    int lh = stack_tcp_listen(E->st, LPORT, 8);
    seg_opt(THF_SYN, PISN, 0, NULL, 0, syn_opts, 8);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    cr_assert(!O.sack_perm);
    int h = stack_tcp_connect(E->st, TH_PEER, 81, 5555, 0);
    cr_assert(th_pop(E, &O) && O.flags == THF_SYN);
    cr_assert(!O.sack_perm);
    (void)lh;
    (void)h;
}

Test(sack, passive_open_without_sack_permitted)
{
    open_sack(false);
    DATA(100, 100);
    expect(THF_ACK, ISS + 1, R, 0);
    cr_assert_eq(O.nsack, 0);
}

/* RFC 2018 §4: the block of the latest segment first, then the most recently reported
 * ones, four at most without timestamps; a block that merges moves to the front. */
Test(sack, blocks_latest_first_then_most_recently_reported)
{
    open_sack(true);
    DATA(100, 100);
    expect_blocks(R, 1, (const uint32_t[][2]){{R + 100, R + 200}});
    cr_assert_eq(O.optlen, 12);
    DATA(300, 100);
    expect_blocks(R, 2, (const uint32_t[][2]){{R + 300, R + 400}, {R + 100, R + 200}});
    DATA(500, 100);
    expect_blocks(
        R, 3, (const uint32_t[][2]){{R + 500, R + 600}, {R + 300, R + 400}, {R + 100, R + 200}});
    DATA(700, 100);
    expect_blocks(
        R, 4,
        (const uint32_t[][2]){
            {R + 700, R + 800}, {R + 500, R + 600}, {R + 300, R + 400}, {R + 100, R + 200}});
    cr_assert_eq(O.optlen, 36);
    DATA(900, 100);
    expect_blocks(
        R, 4,
        (const uint32_t[][2]){
            {R + 900, R + 1000}, {R + 700, R + 800}, {R + 500, R + 600}, {R + 300, R + 400}});
    /* 200..300 joins 100..200 and 300..400: the merged block leads */
    DATA(200, 100);
    expect_blocks(
        R, 4,
        (const uint32_t[][2]){
            {R + 100, R + 400}, {R + 900, R + 1000}, {R + 700, R + 800}, {R + 500, R + 600}});
    /* the hole at RCV.NXT filled: the cumulative ACK moves, the blocks above it stay */
    DATA(0, 100);
    expect_blocks(
        R + 400, 3,
        (const uint32_t[][2]){{R + 900, R + 1000}, {R + 700, R + 800}, {R + 500, R + 600}});
    DATA(400, 100);
    expect_blocks(R + 600, 2, (const uint32_t[][2]){{R + 900, R + 1000}, {R + 700, R + 800}});
    DATA(600, 100);
    DATA(800, 100);
    expect_blocks(R + 800, 1, (const uint32_t[][2]){{R + 900, R + 1000}});
    expect_blocks(R + 1000, 0, NULL);
    cr_assert_eq(O.optlen, 0);
}

/* More out-of-order blocks than fit: the four reported are the latest, never a stale one. */
Test(sack, more_blocks_than_fit_reports_the_four_latest)
{
    open_sack(true);
    for (uint32_t i = 0; i < 6; i++) {
        DATA(200 * i + 100, 100);
        th_drop_out(E);
    }
    DATA(50, 10); /* a sixth... seventh block */
    expect_blocks(
        R, 4,
        (const uint32_t[][2]){
            {R + 50, R + 60}, {R + 1100, R + 1200}, {R + 900, R + 1000}, {R + 700, R + 800}});
}

/* RFC 2883 §4: a duplicate below RCV.NXT is the first block of the next ACK, once. */
Test(sack, dsack_for_a_duplicate_below_rcv_nxt)
{
    open_sack(true);
    DATA(0, 100);
    DATA(100, 100);
    expect_blocks(R + 200, 0, NULL); /* every second segment */
    DATA(0, 100);                    /* again */
    expect_blocks(R + 200, 1, (const uint32_t[][2]){{R, R + 100}});
    cr_assert_eq(stats()->tcp_dsack_sent, 1);
    DATA(200, 100);
    DATA(300, 100);
    expect_blocks(R + 400, 0, NULL); /* reported once */
    /* partly old, partly new: the old part is reported */
    DATA(350, 100);
    expect_blocks(R + 450, 1, (const uint32_t[][2]){{R + 350, R + 400}});
}

/* RFC 2883 §4 (2): a duplicate of data held above RCV.NXT: the D-SACK block, then the block
 * holding it, then the others. */
Test(sack, dsack_for_duplicate_out_of_order_data)
{
    open_sack(true);
    DATA(100, 100);
    DATA(300, 200);
    th_drop_out(E);
    DATA(350, 50); /* inside 300..500 */
    expect_blocks(
        R, 3, (const uint32_t[][2]){{R + 350, R + 400}, {R + 300, R + 500}, {R + 100, R + 200}});
    DATA(600, 100);
    expect_blocks(
        R, 3, (const uint32_t[][2]){{R + 600, R + 700}, {R + 300, R + 500}, {R + 100, R + 200}});
}

/* RFC 6691: SACK blocks are taken out of the payload so that options and data stay
 * within the MSS (1460). */
Test(sack, data_segments_carry_blocks_within_the_mss)
{
    int h = open_sack(true);
    DATA(100, 100);
    th_drop_out(E);
    static uint8_t out[3000];
    cr_assert_eq(stack_tcp_send(E->st, h, out, sizeof out, 0), (long)sizeof out);
    expect(THF_ACK, ISS + 1, R, 1448);
    cr_assert_eq(O.nsack, 1);
    expect(THF_ACK, ISS + 1 + 1448, R, 1448);
    expect(THF_ACK | THF_PSH, ISS + 1 + 2896, R, 104);
}

/* Malformed SACK options are ignored and counted; the segment itself is taken. */
Test(sack, malformed_sack_options_ignored_and_counted)
{
    open_sack(true);
    static const uint8_t bad[][20] = {
        {5, 3, 0, 1, 1, 1, 1, 1},           /* shorter than one block */
        {5, 11, 0, 0, 0, 1, 0, 0, 0, 2, 0}, /* not 2 + 8n */
        {5, 2, 1, 1},                       /* no block */
    };
    static const size_t blen[] = {8, 12, 4};
    for (int i = 0; i < 3; i++) {
        seg_opt(THF_ACK, R + 10u * (uint32_t)i, ISS + 1, D, 10, bad[i], blen[i]);
    }
    cr_assert_eq(stats()->tcp_sack_malformed, 3);
    cr_assert_eq(tcb_of()->rcv_nxt, R + 30);
}
