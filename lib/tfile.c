/*
 * tfile.c - the trusted-file opener.  Rules in tfile.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tfile.h"

int
tfile_check_fd(int fd, const char *path, int flags, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
		return WARD_ERR_IO;
	}
	if (!S_ISREG(st.st_mode) && !((flags & TFILE_DIR_OK) && S_ISDIR(st.st_mode))) {
		snprintf(err, errlen, "%s: not a regular file (refused)", path);
		return WARD_ERR_UNSAFE;
	}
	if (st.st_uid != 0) {
		snprintf(err, errlen, "%s: owned by uid %u, not root (refused)", path,
		    (unsigned)st.st_uid);
		return WARD_ERR_UNSAFE;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "%s: writable by group or others (mode %04o, refused)",
		    path, (unsigned)(st.st_mode & 07777));
		return WARD_ERR_UNSAFE;
	}
	if ((flags & TFILE_SECRET) && (st.st_mode & (S_IRWXG | S_IRWXO))) {
		snprintf(err, errlen, "%s: open to group or others (mode %04o; must be 0600 or "
		    "0400, refused)", path, (unsigned)(st.st_mode & 07777));
		return WARD_ERR_UNSAFE;
	}
	return 0;
}

int
tfile_read(const char *path, int flags, size_t max, char **out, size_t *outlen,
    char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0, size = 0;
	int fd, r;

	*out = NULL;
	*outlen = 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, e == ELOOP ?
		    "is a symbolic link (refused)" : strerror(e));
		return e == ELOOP ? WARD_ERR_UNSAFE : WARD_ERR_IO;
	}
	if ((r = tfile_check_fd(fd, path, flags & TFILE_SECRET, err, errlen)) != 0)
		goto out;
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
		r = WARD_ERR_IO;
		goto out;
	}
	if ((unsigned long long)st.st_size > max) {
		snprintf(err, errlen, "%s: larger than %zu bytes (refused)", path, max);
		r = WARD_ERR_TOOBIG;
		goto out;
	}
	size = (size_t)st.st_size;
	r = WARD_ERR_NOMEM;
	if ((buf = malloc(size + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	/* Read to EOF, never past MAX: the file may change size under us. */
	for (;;) {
		ssize_t n;

		if (got == size) {
			char extra;
			n = read(fd, &extra, 1);
			if (n == 0)
				break;
			if (n < 0 && errno == EINTR)
				continue;
			snprintf(err, errlen, "%s: changed while being read (refused)", path);
			r = WARD_ERR_IO;
			goto out;
		}
		n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: read failed: %s", path,
			    n < 0 ? strerror(errno) : "file shrank");
			r = WARD_ERR_IO;
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*outlen = got;
	buf = NULL;
	r = 0;
out:
	if (buf != NULL)
		ward_freezero(buf, size + 1);
	close(fd);
	return r;
}
