/*
 * file_id.h - a file's identity, and when its times cannot tell two
 * versions of it apart.
 *
 * Two readers use it, with one rule: the policy snapshot's record of the
 * text it was compiled from (image.c), and wardd's look at ward.conf, the
 * policy text and its snapshot before a request (daemon/wardd.c).
 *
 * An identity is the device, inode, size and the modification and change
 * times.  Any part that differs means "another version".  The same identity
 * proves the same version only when the file last changed more than
 * FILE_ID_RACY_SECONDS before it was looked at: file times tick coarsely (a
 * tick on most file systems, a second on some), so two writes of the same
 * size within one tick leave the same identity.  A change that recent is
 * "racy": the reader must compare the contents (or look again once the
 * window has passed).  The change time is the kernel's clock at the last
 * change, whatever touch(1) did to the modification time.
 */
#ifndef WARD_FILE_ID_H
#define WARD_FILE_ID_H

#include <stdint.h>
#include <sys/stat.h>

#define FILE_ID_RACY_SECONDS 2

/* Fixed-width: it is stored in the snapshot's header (policy_internal.h). */
struct file_id {
	uint64_t dev, ino, size;
	int64_t mtime_sec, mtime_nsec;
	int64_t ctime_sec, ctime_nsec;
};

/* The identity of the file fstat(2) or lstat(2) described in ST. */
static inline void
file_id_of(const struct stat *st, struct file_id *id)
{
	id->dev = (uint64_t)st->st_dev;
	id->ino = (uint64_t)st->st_ino;
	id->size = (uint64_t)st->st_size;
	id->mtime_sec = (int64_t)st->st_mtim.tv_sec;
	id->mtime_nsec = (int64_t)st->st_mtim.tv_nsec;
	id->ctime_sec = (int64_t)st->st_ctim.tv_sec;
	id->ctime_nsec = (int64_t)st->st_ctim.tv_nsec;
}

/* 1 when A and B are the same identity, else 0. */
static inline int
file_id_same(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
	    a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec;
}

/* 1 when a change at CHANGED (a change time, in seconds) is too recent
 * for an identity taken at LOOKED (wall-clock seconds) to prove anything;
 * 0 once LOOKED is more than FILE_ID_RACY_SECONDS past it. */
static inline int
file_id_racy(int64_t changed, int64_t looked)
{
	return changed >= looked - FILE_ID_RACY_SECONDS;
}

#endif
