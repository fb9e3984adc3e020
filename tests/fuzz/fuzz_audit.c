/* fuzz_audit.c - the audit record parser and the chain verifier on
 * arbitrary bytes.  The input is taken as a log file: each line goes
 * through audit_parse_line (a parsed record has event, result, host and
 * ts, a 64-character prev and mac, a mac offset inside the line and a
 * time not before 1970; a refused line has an error message), then the
 * whole file through audit_verify with a fixed key, which must answer 0,
 * or WARD_ERR_CORRUPT with a message and the problem named, never crash. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], keyf[128], log_path[128];

static void
cleanup(void)
{
	unlink(log_path);
	unlink(keyf);
	rmdir(dir);
}

static int
prepare(void)
{
	static const unsigned char key[32] = "ward-fuzz-audit-key-0123456789ab";
	int fd;

	if (dir[0] != '\0')
		return 0;
	snprintf(dir, sizeof(dir), "/tmp/ward-fuzz-audit-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(keyf, sizeof(keyf), "%s/audit.key", dir);
	snprintf(log_path, sizeof(log_path), "%s/audit.log", dir);
	fd = open(keyf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, key, sizeof(key)) != (ssize_t)sizeof(key))
		abort();
	close(fd);
	atexit(cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_verify_result res;
	const char *files[1] = { log_path };
	size_t pos = 0;
	int fd, r;

	if (size > 1 << 20 || prepare() != 0)
		return 0;
	while (pos < size) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - data) - pos : size - pos;
		struct audit_record rec;
		char err[256];

		if (audit_parse_line((const char *)data + pos, len, &rec, err, sizeof(err)) == 0) {
			if (rec.mac_offset >= len || rec.event == NULL || rec.result == NULL ||
			    rec.host == NULL || rec.ts == NULL || strlen(rec.prev) != 64 ||
			    strlen(rec.mac) != 64 || rec.ts_ms < 0)
				abort();
		} else if (err[0] == '\0') {
			abort();
		}
		audit_record_free(&rec);
		pos += len + 1;
	}
	fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	close(fd);
	r = audit_verify(keyf, files, 1, NULL, &res);
	if (r != 0 && (r != WARD_ERR_CORRUPT || res.message[0] == '\0' ||
	    res.problem == AUDIT_OK))
		abort();
	return 0;
}
