/* fuzz_state_record.c - the state store's user record decoder on arbitrary
 * bytes (what a damaged or hostile data.mdb value can hold).  Whatever
 * decodes must be in range and encode back to exactly the same bytes, so a
 * record can never mean two things. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state_user u;
	unsigned char *enc = NULL;
	size_t enclen = 0;
	int r;

	r = state_user_decode(data, size, &u);
	if (r == 0) {
		if (u.algorithm < 0 || u.algorithm > 2 || u.digits < 6 || u.digits > 8 ||
		    u.period <= 0 || u.failures < 0 || u.last_step < -1 ||
		    u.nrecovery > STATE_MAX_RECOVERY || u.secret_ct_len == 0 ||
		    u.secret_ct == NULL)
			abort();
		for (size_t i = 0; i < u.nrecovery; i++)
			if (u.recovery_used[i] > 1)
				abort();
		if (state_user_encode(&u, &enc, &enclen) != 0 || enclen != size ||
		    memcmp(enc, data, size) != 0)
			abort();
		ward_freezero(enc, enclen);
	} else if (r != WARD_ERR_CORRUPT && r != WARD_ERR_NOMEM) {
		abort();
	} else if (u.secret_ct != NULL) {
		abort();                /* a refused record leaves nothing behind */
	}
	state_user_clear(&u);
	return 0;
}
