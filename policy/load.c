/*
 * load.c - policy.conf into an immutable policy: the public entry points
 * (ward_policy.h), each a list of steps.
 *
 *  1. policy_load opens the file (O_NOFOLLOW: no symbolic link);
 *  2. policy_load_fd refuses what is not a regular file, is writable by
 *     group or others, or is larger than POLICY_MAX_BYTES, and reads it
 *     whole (a NUL byte is refused);
 *  3. policy_load_buffer parses the text (parse.c: every error as
 *     "FILE:LINE: message", and if there is any, nothing is returned),
 *     names it by its SHA-256, and lays it out as the flat image that
 *     decisions and the snapshot use (build.c), checked by pol_image_open.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy_build.h"

#define POLICY_MAX_BYTES (256L * 1024 * 1024)

static void
hash_version(struct src *p, const char *text, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	p->version[0] = '\0';
	if (EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return;
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		snprintf(p->version + 2 * i, 3, "%02x", md[i]);
}

struct policy *
policy_load_buffer(const char *name, const char *text, char *errbuf, size_t errlen)
{
	struct loader L;
	struct policy *pol = NULL;

	memset(&L, 0, sizeof(L));
	L.file = name ? name : "policy";
	L.err = errbuf;
	L.errlen = errlen;
	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (text == NULL) {
		pol_err_at(&L, 0, "no policy text");
		return NULL;
	}
	L.p = calloc(1, sizeof(*L.p));
	if (L.p == NULL) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "%s: out of memory", L.file);
		return NULL;
	}
	if (pol_parse(&L, text) == 0) {
		hash_version(L.p, text, strlen(text));
		pol = pol_build_policy(L.p, L.file, errbuf, errlen);
	}
	pol_src_free(L.p);
	return pol;
}

struct policy *
policy_load_fd(int fd, const char *name, struct stat *st, char *errbuf, size_t errlen)
{
	char *text = NULL;
	struct policy *p = NULL;
	size_t got = 0;

	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		snprintf(errbuf, errlen, "%s: not a regular file (refused)", name);
		return NULL;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(errbuf, errlen, "%s: writable by group or others (mode %04o, refused)",
		    name, (unsigned)(st->st_mode & 07777));
		return NULL;
	}
	if (st->st_size > POLICY_MAX_BYTES) {
		snprintf(errbuf, errlen, "%s: larger than %ld bytes (refused)", name,
		    POLICY_MAX_BYTES);
		return NULL;
	}
	text = malloc((size_t)st->st_size + 1);
	if (text == NULL) {
		snprintf(errbuf, errlen, "%s: out of memory", name);
		return NULL;
	}
	/* from the start, whoever read this descriptor before */
	while (got < (size_t)st->st_size) {
		ssize_t r = pread(fd, text + got, (size_t)st->st_size - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(errbuf, errlen, "%s: read failed: %s", name,
			    r < 0 ? strerror(errno) : "file shrank while reading");
			goto out;
		}
		got += (size_t)r;
	}
	text[got] = '\0';
	if (strlen(text) != got) {
		snprintf(errbuf, errlen, "%s: contains a NUL byte (refused)", name);
		goto out;
	}
	p = policy_load_buffer(name, text, errbuf, errlen);
out:
	free(text);
	return p;
}

struct policy *
policy_load(const char *path, char *errbuf, size_t errlen)
{
	struct stat st;
	struct policy *p;
	int fd;

	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (path == NULL) {
		snprintf(errbuf, errlen, "no policy file");
		return NULL;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, errno == ELOOP ?
		    "is a symbolic link (refused)" : strerror(errno));
		return NULL;
	}
	p = policy_load_fd(fd, path, &st, errbuf, errlen);
	close(fd);
	return p;
}
