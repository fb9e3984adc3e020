/* fuzz_snapshot.c - the snapshot reader on arbitrary bytes.  A snapshot that
 * loads is asked a few questions (both evaluators must agree).  Most random
 * inputs fail the checksum; the seeds are real snapshots, so mutations past
 * the checksum are reached when the fuzzer fixes it up, and the bounds checks
 * behind it are reached by the unit tests' truncation and flip tables. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ward_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct policy *p = policy_load_snapshot_buffer("fuzz", data, size, err, sizeof(err));

	if (p != NULL) {
		struct policy_request rq = { .user = "alice", .service = "ehr-login",
			.host = "icu-ws-01", .wday = 1, .minute = 600 };
		struct policy_decision a, b;

		policy_decide(p, &rq, &a);
		if (policy_decide_reference(p, &rq, &b) == 0 &&
		    (a.allow != b.allow || strcmp(a.rule, b.rule) != 0))
			abort();
		policy_lint(p, NULL, NULL);
		policy_free(p);
	}
	return 0;
}
