/* fuzz_reply.c - a PAM conversation reply, through the checks it meets on
 * its way to a decision (pam_module/core.c vcheck): recovery-code
 * normalisation and hashing, then the TOTP check through liboath.
 * Invariants: a normalised recovery code is exactly 12 characters of the
 * code alphabet and normalising it again changes nothing; a TOTP reply is
 * accepted only when it is exactly DIGITS decimal digits and equals the
 * code liboath generates for the step it matched, inside the window.
 * The first input byte picks the parameters (algorithm, digits, window). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "otp.h"
#include "secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char totp_secret[64] = "12345678901234567890123456789012"
    "3456789012345678901234567890123";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct secret_key key = { { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 } };
	static const unsigned char salt[16] = { 9, 9, 9 };
	const time_t now = 1700000000;
	char norm[SECRET_RECOVERY_CHARS + 1], norm2[SECRET_RECOVERY_CHARS + 1];
	unsigned char h[32], h2[32];
	struct otp_params p;
	char *reply;
	int64_t step = -1;
	int r;

	if (size < 1 || size > 1024)
		return 0;
	p.algorithm = data[0] % 3;
	p.digits = 6 + (data[0] >> 2) % 3;
	p.window = (data[0] >> 4) % 3;
	p.period = 30;
	if ((reply = malloc(size)) == NULL)
		return 0;
	memcpy(reply, data + 1, size - 1);
	reply[size - 1] = '\0';

	if (secret_recovery_normalise(reply, norm) == 0) {
		if (strlen(norm) != SECRET_RECOVERY_CHARS ||
		    strspn(norm, "0123456789abcdefghjkmnpqrstvwxyz") != SECRET_RECOVERY_CHARS)
			abort();
		if (secret_recovery_normalise(norm, norm2) != 0 || strcmp(norm, norm2) != 0)
			abort();
		if (secret_recovery_hash(&key, salt, "alice", norm, h) != 0 ||
		    secret_recovery_hash(&key, salt, "alice", norm2, h2) != 0 ||
		    !ward_ct_equal(h, h2, sizeof(h)))
			abort();
		ward_wipe(norm2, sizeof(norm2));
	}
	ward_wipe(norm, sizeof(norm));

	r = otp_verify(totp_secret, otp_secret_len(p.algorithm), &p, now, reply, &step);
	if (r == 0) {
		char expect[9];
		size_t n = strlen(reply);

		if (n != (size_t)p.digits || strspn(reply, "0123456789") != n)
			abort();
		if (step < now / 30 - p.window || step > now / 30 + p.window)
			abort();
		if (otp_generate(totp_secret, otp_secret_len(p.algorithm), &p,
		    (time_t)step * 30, expect) != 0 || strcmp(expect, reply) != 0)
			abort();
	} else if (r != WARD_ERR_BADCODE || step != -1) {
		abort();
	}
	ward_free_str_secret(reply);
	return 0;
}
