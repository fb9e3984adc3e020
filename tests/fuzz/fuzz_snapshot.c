/* fuzz_snapshot.c - the snapshot reader on arbitrary bytes.  A snapshot that
 * loads is asked a few questions (both evaluators must agree).  Most random
 * inputs fail the checksum, so each input is tried twice: as it is, and
 * resealed with a right checksum (as a buggy or hostile writer would), so
 * the structural checks behind the checksum are fuzzed too: whatever they
 * let through must be safe to decide over. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy_internal.h"
#include "ward_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* COMPARE: the evaluators must agree (an intact snapshot; a resealed one
 * may say anything, as long as it is said safely). */
static void
ask(const uint8_t *data, size_t size, int compare)
{
	char err[512];
	struct policy *p = policy_load_snapshot_buffer("fuzz", data, size, err, sizeof(err));

	if (p != NULL) {
		struct policy_request rq = { .user = "alice", .service = "ehr-login",
			.host = "icu-ws-01", .wday = 1, .minute = 600 };
		const char *roles[] = { "nurse", "physician", "r1" }, *out[16];
		struct policy_decision a, b;

		policy_decide(p, &rq, &a);
		if (policy_decide_reference(p, &rq, &b) == 0 && compare &&
		    (a.allow != b.allow || strcmp(a.rule, b.rule) != 0))
			abort();
		rq.roles = roles;
		rq.nroles = 3;
		policy_decide(p, &rq, &a);
		policy_permitted(p, &rq, "ehr:read");
		policy_effective_roles(p, &rq, out, 16);
		policy_lint(p, NULL, NULL);
		policy_free(p);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	ask(data, size, 1);
	if (size < POL_DATA || (copy = malloc(size)) == NULL)
		return 0;
	memcpy(copy, data, size);
	{
		/* this format too, so seeds of an older one still reach the
		 * structural checks */
		uint32_t format = POL_FORMAT;
		uint64_t len = size - POL_HEAD, sum;
		memcpy(copy + 8, &format, 4);
		memcpy(copy + 16, &len, 8);
		sum = pol_image_sum(copy, size);
		memcpy(copy + 24, &sum, 8);
	}
	ask(copy, size, 0);
	free(copy);
	return 0;
}
