/*
 * otp.h - TOTP (RFC 6238) verification through liboath.
 *
 * Rules it keeps:
 *  - A code is exactly DIGITS decimal digits; anything else is a bad code
 *    before any HMAC is computed.
 *  - Candidate codes are compared in constant time (liboath's callback).
 *  - The matched time step is returned so the caller can refuse a step at
 *    or before the last accepted one (replay); this module keeps no state.
 *  - Nothing here logs a code or a secret.
 */
#ifndef WARD_OTP_H
#define WARD_OTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ward.h"

/* ALGO is enum conf_algo (0 sha1, 1 sha256, 2 sha512). */
struct otp_params {
	int algorithm;
	int digits;          /* 6..8 */
	int period;          /* seconds, > 0 */
	int window;          /* steps either side, >= 0 */
};

/*
 * Check CODE against SECRET at time NOW.  On a match returns 0 and sets
 * *STEP to the matched time step (floor(t / period)).  Returns
 * WARD_ERR_BADCODE when no step in the window matches or CODE is
 * malformed, WARD_ERR_INVAL for bad parameters, WARD_ERR_CRYPTO if
 * liboath fails.
 */
int otp_verify(const unsigned char *secret, size_t secret_len,
    const struct otp_params *p, time_t now, const char *code, int64_t *step)
    WARD_WUR WARD_NONNULL(1, 3, 5, 6);

/* The code for time NOW (for tests and wardctl enroll's confirmation).
 * OUT holds at least 9 bytes. */
int otp_generate(const unsigned char *secret, size_t secret_len,
    const struct otp_params *p, time_t now, char out[9]) WARD_WUR;

/* Base32 (RFC 4648, liboath) encode/decode of a secret.  Outputs are the
 * caller's to ward_freezero. decode: WARD_ERR_PARSE on bad input. */
int otp_base32_encode(const unsigned char *in, size_t len, char **out) WARD_WUR;
int otp_base32_decode(const char *in, unsigned char **out, size_t *len) WARD_WUR;

/* Secret length for an algorithm (RFC 6238: 20, 32, 64 bytes). */
size_t otp_secret_len(int algorithm);
const char *otp_algorithm_name(int algorithm);   /* "SHA1", "SHA256", "SHA512" */

#endif
