/* The system-call allow-list minitcpd puts on itself once it is up (libseccomp): every
 * call not on the list kills the process. */
#ifndef MINITCP_SYSCALL_FILTER_H
#define MINITCP_SYSCALL_FILTER_H

/* 0, or -1 with a message on stderr. */
int syscall_filter_apply(void);

#endif
