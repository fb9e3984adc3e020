/* logcap.h - capture what modules send to syslog, by binding /dev/log.
 * Works when /dev/log does not exist (as in containers and CI here); when a
 * real syslog owns it, logcap_start returns -1 and tests say so. */
#ifndef WARD_LOGCAP_H
#define WARD_LOGCAP_H

#include <stddef.h>

int logcap_start(void);
/* Everything captured so far (NUL-terminated, lines joined by '\n'). */
const char *logcap_text(size_t *len);
void logcap_stop(void);

#endif
