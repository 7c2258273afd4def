#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static bool dropped;

bool privdrop_done(void)
{
    return dropped;
}

int privdrop_lookup(const char *user, struct privdrop_user *out)
{
    memset(out, 0, sizeof *out);
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        char *end;
        unsigned long v = strtoul(user, &end, 10);
        if (*user && !*end && v < UINT32_MAX) pw = getpwuid((uid_t)v);
    }
    if (!pw) {
        fprintf(stderr, "minitcpd: --user: no such user '%s'\n", user);
        return -1;
    }
    if (strlen(pw->pw_name) >= sizeof out->name) {
        fprintf(stderr, "minitcpd: --user: name too long\n");
        return -1;
    }
    strcpy(out->name, pw->pw_name);
    out->uid = pw->pw_uid;
    out->gid = pw->pw_gid;
    return 0;
}

static int capset_zero(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    return (int)syscall(SYS_capset, &h, data);
}

static int capget_any(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &h, data) < 0) return -1;
    for (int i = 0; i < 2; i++)
        if (data[i].effective || data[i].permitted || data[i].inheritable) return 1;
    return 0;
}

/* The bounding set: dropping needs CAP_SETPCAP, so this comes before the uid change. */
static int drop_bounding(void)
{
    for (int cap = 0; cap < 64; cap++) {
        int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (r < 0) break; /* past the kernel's last capability */
        if (r == 0) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            fprintf(stderr,
                    "minitcpd: --user: cannot clear capability %d from the bounding set: %s "
                    "(needs CAP_SETPCAP; or start with an empty bounding set)\n",
                    cap, strerror(errno));
            return -1;
        }
    }
    return 0;
}

int privdrop_apply(const struct privdrop_user *u)
{
    if (drop_bounding() < 0) return -1;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
        fprintf(stderr, "minitcpd: --user: cannot clear ambient capabilities: %s\n",
                strerror(errno));
        return -1;
    }
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    getresuid(&ru, &eu, &su);
    getresgid(&rg, &eg, &sg);
    bool same = ru == u->uid && eu == u->uid && su == u->uid && rg == u->gid && eg == u->gid &&
                sg == u->gid;
    if (!same) {
        if (initgroups(u->name, u->gid) < 0 || setresgid(u->gid, u->gid, u->gid) < 0 ||
            setresuid(u->uid, u->uid, u->uid) < 0) {
            fprintf(stderr,
                    "minitcpd: --user %s: cannot switch user: %s (start as root, or as %s)\n",
                    u->name, strerror(errno), u->name);
            return -1;
        }
    } /* already the user: its groups stay as the service manager set them */
    if (capset_zero() < 0) {
        fprintf(stderr, "minitcpd: --user: capset: %s\n", strerror(errno));
        return -1;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        fprintf(stderr, "minitcpd: --user: no_new_privs: %s\n", strerror(errno));
        return -1;
    }
    /* verify rather than trust: no way back to uid 0, no capability left */
    if (u->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        fprintf(stderr, "minitcpd: --user: uid 0 could be regained; refusing to run\n");
        return -1;
    }
    if (capget_any() != 0) {
        fprintf(stderr, "minitcpd: --user: capabilities remain after the drop; refusing to run\n");
        return -1;
    }
#if defined(__SANITIZE_ADDRESS__)
#define MINITCP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MINITCP_ASAN 1
#endif
#endif
#ifdef MINITCP_ASAN
    /* LeakSanitizer reads /proc/self at exit, which a non-dumpable process cannot;
     * sanitizer builds only (a dumpable process can be ptraced by its own user). */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
    dropped = true;
    return 0;
}
