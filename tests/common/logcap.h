/* logcap.h - capture what modules send to syslog, by binding /dev/log.
 * Works when /dev/log does not exist (as in containers and CI here); when a
 * real syslog owns it, logcap_start returns -1 and tests say so. */
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
