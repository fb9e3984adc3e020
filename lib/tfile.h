/*
 * tfile.h - the one trusted-file opener.
 *
 * Everything Ward reads that can change its decisions (ward.conf, the
 * policy, keys, the bind password) comes through here:
 *  - opened O_NOFOLLOW|O_CLOEXEC|O_NOCTTY: a symbolic link is refused;
 *  - fstat on the open descriptor (no check-then-open race): a regular
 *    file, owned by root, not writable by group or others;
 *  - TFILE_SECRET: also not readable by group or others;
 *  - a size cap, so a huge file cannot exhaust memory.
 * The error text names the file and the problem; callers log it.
 */
#ifndef WARD_TFILE_H
#define WARD_TFILE_H

#include <stddef.h>

#include "ward.h"

#define TFILE_SECRET 0x1   /* refuse group/other-readable files (keys, passwords) */

/*
 * Read PATH into a new NUL-terminated buffer (*BUF, *LEN without the NUL).
 * MAX bounds the size.  Returns 0, WARD_ERR_UNSAFE (owner, mode, type,
 * symlink), WARD_ERR_TOOBIG, WARD_ERR_IO (cannot open or read; ENOENT
 * included) or WARD_ERR_NOMEM, with "PATH: what is wrong" in ERR.
 * For TFILE_SECRET the buffer is the caller's to wipe (ward_freezero).
 */
int tfile_read(const char *path, int flags, size_t max, char **buf,
    size_t *len, char *err, size_t errlen) WARD_WUR WARD_NONNULL(1, 4, 5, 6);

/* Check an already-open descriptor by the same rules (used for folders
 * too: a directory passes the type check when DIR_OK is set). */
#define TFILE_DIR_OK 0x2
int tfile_check_fd(int fd, const char *path, int flags, char *err,
    size_t errlen) WARD_WUR;

#endif
