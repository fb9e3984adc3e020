/* fuzz_policy.c - the policy loader on arbitrary text; a loaded policy is
 * then linted and asked a few questions, and both evaluators must agree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ward_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[1024], *text;
	struct policy *p;

	if (size > 1 << 20)
		return 0;
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	p = policy_load_buffer("fuzz", text, err, sizeof(err));
	if (p != NULL) {
		static const char *const services[] = { "ehr-login", "rx-console", "x" };
		static const char *const hosts[] = { "icu-ws-01", "rx-ws-01", "" };

		policy_lint(p, NULL, NULL);
		for (int i = 0; i < 3; i++) {
			struct policy_request rq = { .user = "alice", .service = services[i],
				.host = hosts[i], .wday = i * 2, .minute = i * 600 };
			struct policy_decision a, b;

			policy_decide(p, &rq, &a);
			if (policy_decide_reference(p, &rq, &b) == 0 &&
			    (a.allow != b.allow || strcmp(a.rule, b.rule) != 0 ||
			     a.break_glass != b.break_glass))
				abort();
			(void)policy_permitted(p, &rq, "ehr:read");
		}
		policy_free(p);
	}
	free(text);
	return 0;
}
