/* Access control on the client socket (daemon/access.c): rights from credentials, the
 * checks the request path makes, per-uid socket accounting. */
#include <criterion/criterion.h>
#include <errno.h>

#include "access.h"

static const struct access_policy NONE = {0};
static const struct access_policy GROUPS = {
    .has_priv_group = true, .priv_gid = 150, .has_capture_group = true, .capture_gid = 151};

Test(access, root_has_every_right)
{
    struct access_cred c = {.uid = 0, .gid = 0};
    unsigned r = access_rights(&NONE, &c);
    cr_assert_eq(r, ACCESS_BIND_LOW | ACCESS_CAPTURE | ACCESS_SEE_ALL);
    cr_assert_eq(access_bind(r, 80), 0);
    cr_assert_eq(access_bind(r, 1), 0);
    cr_assert_eq(access_capture(r), 0);
}

Test(access, ordinary_uid_refused_low_ports_and_capture)
{
    struct access_cred c = {.uid = 65534, .gid = 65534};
    unsigned r = access_rights(&GROUPS, &c);
    cr_assert_eq(r, 0u);
    cr_assert_eq(access_bind(r, 80), EACCES);
    cr_assert_eq(access_bind(r, 1), EACCES);
    cr_assert_eq(access_bind(r, 1023), EACCES);
    cr_assert_eq(access_bind(r, 1024), 0, "1024 is the first unprivileged port");
    cr_assert_eq(access_bind(r, 8080), 0);
    cr_assert_eq(access_bind(r, 65535), 0);
    cr_assert_eq(access_bind(r, 0), 0, "port 0: an ephemeral port, never privileged");
    cr_assert_eq(access_capture(r), EACCES);
}

Test(access, groups_primary_or_supplementary)
{
    struct access_cred prim = {.uid = 1000, .gid = 150};
    cr_assert_eq(access_rights(&GROUPS, &prim), (unsigned)ACCESS_BIND_LOW);
    gid_t g[] = {4, 151, 27};
    struct access_cred supp = {.uid = 1000, .gid = 1000, .groups = g, .ngroups = 3};
    cr_assert_eq(access_rights(&GROUPS, &supp), (unsigned)ACCESS_CAPTURE);
    gid_t both[] = {151, 150};
    struct access_cred b = {.uid = 1000, .gid = 1000, .groups = both, .ngroups = 2};
    cr_assert_eq(access_rights(&GROUPS, &b), (unsigned)(ACCESS_BIND_LOW | ACCESS_CAPTURE));
    /* no group named: gid 0 confers nothing (has_* false, gids 0) */
    struct access_cred g0 = {.uid = 1000, .gid = 0};
    cr_assert_eq(access_rights(&NONE, &g0), 0u);
    cr_assert_eq(access_rights(&GROUPS, &g0), 0u);
}

Test(access, touch_and_see)
{
    cr_assert_eq(access_touch(1000, 1000), 0);
    cr_assert_eq(access_touch(1000, 1001), EPERM);
    cr_assert_eq(access_touch(1000, 0), EPERM, "not even root touches another's socket");
    cr_assert(access_see_owner(0, 1000, 1000));
    cr_assert_not(access_see_owner(0, 1000, 1001));
    cr_assert(access_see_owner(ACCESS_SEE_ALL, 1000, 0));
    cr_assert_not(access_see_owner(ACCESS_BIND_LOW | ACCESS_CAPTURE, 1000, 1001));
}

Test(access, per_uid_socket_limit)
{
    struct access_policy p = {.max_socks_per_uid = 3};
    struct access_table t = {0};
    struct access_uid *a = access_uid_get(&t, 1000, true), *b = access_uid_get(&t, 1001, true);
    cr_assert(a && b && a != b);
    cr_assert_eq(access_uid_get(&t, 1000, false), a);
    cr_assert_null(access_uid_get(&t, 1002, false));
    for (int i = 0; i < 3; i++)
        cr_assert_eq(access_sock_charge(&p, &t, a), 0);
    cr_assert(access_sock_full(&p, a));
    cr_assert_eq(access_sock_charge(&p, &t, a), EMFILE);
    cr_assert_eq(t.refused_socks, 1u);
    cr_assert_eq(a->socks, 3u);
    cr_assert_eq(access_sock_charge(&p, &t, b), 0, "another uid is not charged");
    access_sock_uncharge(a);
    cr_assert_not(access_sock_full(&p, a));
    cr_assert_eq(access_sock_charge(&p, &t, a), 0);
    /* the default when the policy says 0 */
    cr_assert_not(access_sock_full(&NONE, a));
    a->socks = ACCESS_DEFAULT_SOCKS_PER_UID;
    cr_assert(access_sock_full(&NONE, a));
    access_table_fini(&t);
}

Test(access, uid_record_freed_with_its_last_session)
{
    struct access_table t = {0};
    struct access_uid *a = access_uid_get(&t, 7, true);
    a->sessions = 1;
    access_uid_release(&t, a); /* still one session */
    cr_assert_eq(access_uid_get(&t, 7, false), a);
    a->sessions = 0;
    access_uid_release(&t, a);
    cr_assert_null(access_uid_get(&t, 7, false));
    /* 64 uids in one bucket chain and out again */
    struct access_uid *u[200];
    for (uid_t i = 0; i < 200; i++)
        cr_assert(u[i] = access_uid_get(&t, i * 64, true));
    for (uid_t i = 0; i < 200; i++)
        cr_assert_eq(access_uid_get(&t, i * 64, false), u[i]);
    for (uid_t i = 0; i < 200; i += 2)
        access_uid_release(&t, u[i]);
    for (uid_t i = 0; i < 200; i++)
        cr_assert_eq(access_uid_get(&t, i * 64, false), i % 2 ? u[i] : NULL);
    access_table_fini(&t);
}
