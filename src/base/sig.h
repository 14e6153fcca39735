/* sig.h - process-wide stop request from SIGTERM/SIGINT, shared by every long-running role.
 *
 * ef_sig_install() makes SIGTERM and SIGINT set a flag (and ignores SIGPIPE); loops poll
 * ef_sig_stop_requested() and finish their current batch before returning. A second signal while
 * stopping is also only recorded: shutdown stays orderly. */
#ifndef EF_BASE_SIG_H
#define EF_BASE_SIG_H

void ef_sig_install(void);
int ef_sig_stop_requested(void);
/* Requests a stop as if a signal arrived (used by tests and embedders). */
void ef_sig_request_stop(void);

#endif
