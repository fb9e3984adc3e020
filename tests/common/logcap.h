/* logcap.h - capture what modules send to syslog, by binding /dev/log.
 * When /dev/log does not exist (containers, CI here) it is bound directly;
 * when a real syslog owns it, the test process takes a mount namespace of
 * its own with our socket mounted over /dev/log (root only; logcap.c).
 * Call logcap_start before the process starts any thread.  When neither
 * works, logcap_start returns -1 and tests say so. */
#ifndef WARD_LOGCAP_H
#define WARD_LOGCAP_H

#include <stddef.h>

int logcap_start(void);
/* logcap_start for a suite: 1 when capturing; otherwise 0, having said on
 * stderr that the log assertions are skipped. */
int logcap_begin(void);
/* Everything captured so far (NUL-terminated, lines joined by '\n'). */
const char *logcap_text(size_t *len);
/* Does what was captured so far hold NEEDLE? */
int logcap_has(const char *needle);
void logcap_stop(void);

#endif
