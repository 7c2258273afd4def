#include "syscall_filter.h"

#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

/* What minitcpd calls after start, by the code that calls it. Everything before (TUN and
 * socket setup, the user switch, the first pcap file) is done when the filter goes on. */
static const char *const allowed[] = {
    /* main.c: the libev loop (epoll, or poll/select when epoll is missing), its timer,
     * signal watchers (handler + eventfd wakeup), clock reads without the vDSO */
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_ctl",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "clock_gettime",
    "gettimeofday",
    "nanosleep",
    "clock_nanosleep",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "restart_syscall",
    /* main.c: TUN reads and writes; stdout/stderr log lines; the eventfd of libev */
    "read",
    "write",
    "readv",
    "writev",
    /* uds_transport.c: client sessions (accept, SO_PEERCRED, non-blocking I/O, buffers) */
    "accept4",
    "accept",
    "recvfrom",
    "sendto",
    "recvmsg",
    "sendmsg",
    "getsockopt",
    "setsockopt",
    "shutdown",
    "close",
    "fcntl",
    /* pcap.c: rotation (rename, a new file) and truncating after a write error */
    "openat",
    "rename",
    "renameat",
    "renameat2",
    "ftruncate",
    "lseek",
    /* uds_transport.c: removing the socket at shutdown; stdio's first use of a stream */
    "unlink",
    "unlinkat",
    "fstat",
    "newfstatat",
    /* the heap (malloc, malloc_trim) */
    "brk",
    "munmap",
    "mremap",
    "madvise",
    /* libc internals: locks, abort(), exit */
    "futex",
    "getpid",
    "gettid",
    "tgkill",
    "exit",
    "exit_group",
};

int syscall_filter_apply(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (!ctx) {
        fprintf(stderr, "minitcpd: seccomp: cannot create the filter\n");
        return -1;
    }
    int r = 0;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0] && r == 0; i++) {
        int nr = seccomp_syscall_resolve_name(allowed[i]);
        if (nr == __NR_SCMP_ERROR) continue; /* not on this architecture */
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
    }
    /* mmap/mprotect never executable; socket only AF_UNIX (main.c: sd_notify STOPPING=1) */
    if (!r)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                             SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    if (!r)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                             SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    if (!r)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                             SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0));
    if (!r) r = seccomp_load(ctx); /* sets no_new_privs too */
    seccomp_release(ctx);
    if (r) {
        fprintf(stderr, "minitcpd: seccomp: cannot install the filter: %s\n", strerror(-r));
        return -1;
    }
    return 0;
}
