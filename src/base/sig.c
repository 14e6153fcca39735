/* sig.c - stop flag set by SIGTERM/SIGINT; see sig.h. */
#include "base/sig.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

void ef_sig_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int ef_sig_stop_requested(void)
{
    return g_stop != 0;
}

void ef_sig_request_stop(void)
{
    g_stop = 1;
}
