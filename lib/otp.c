/*
 * otp.c - TOTP through liboath.  Rules in otp.h.
 */
#include <stdlib.h>
#include <string.h>

#include <liboath/oath.h>

#include "otp.h"

struct cmp_ctx {
	const char *code;
	size_t len;
};

/* liboath calls this with each candidate; 0 means "equal". */
static int
ct_compare(void *handle, const char *test_otp)
{
	const struct cmp_ctx *c = handle;

	if (strlen(test_otp) != c->len)
		return 1;
	return ward_ct_equal(c->code, test_otp, c->len) ? 0 : 1;
}

static int
params_ok(const struct otp_params *p)
{
	return p->algorithm >= 0 && p->algorithm <= 2 && p->digits >= 6 &&
	    p->digits <= 8 && p->period > 0 && p->period <= 3600 &&
	    p->window >= 0 && p->window <= 10;
}

static int
oath_flags(int algorithm)
{
	return algorithm == 1 ? OATH_TOTP_HMAC_SHA256 :
	    algorithm == 2 ? OATH_TOTP_HMAC_SHA512 : 0;
}

int
otp_verify(const unsigned char *secret, size_t secret_len, const struct otp_params *p,
    time_t now, const char *code, int64_t *step)
{
	struct cmp_ctx c = { code, 0 };
	uint64_t counter = 0;
	int pos = 0, rc;

	*step = -1;
	if (!params_ok(p) || secret_len == 0 || now < 0)
		return WARD_ERR_INVAL;
	c.len = strnlen(code, 16);
	if (c.len != (size_t)p->digits)
		return WARD_ERR_BADCODE;
	for (size_t i = 0; i < c.len; i++)
		if (code[i] < '0' || code[i] > '9')
			return WARD_ERR_BADCODE;
	if (oath_init() != OATH_OK)
		return WARD_ERR_CRYPTO;
	rc = oath_totp_validate4_callback((const char *)secret, secret_len, now,
	    (unsigned)p->period, 0, (unsigned)p->digits, (size_t)p->window, &pos,
	    &counter, oath_flags(p->algorithm), ct_compare, &c);
	oath_done();
	if (rc >= 0) {
		if (counter > (uint64_t)INT64_MAX)
			return WARD_ERR_INTERNAL;
		*step = (int64_t)counter;
		return 0;
	}
	return rc == OATH_INVALID_OTP ? WARD_ERR_BADCODE : WARD_ERR_CRYPTO;
}

int
otp_generate(const unsigned char *secret, size_t secret_len, const struct otp_params *p,
    time_t now, char out[9])
{
	int rc;

	if (!params_ok(p) || secret_len == 0)
		return WARD_ERR_INVAL;
	if (oath_init() != OATH_OK)
		return WARD_ERR_CRYPTO;
	rc = oath_totp_generate2((const char *)secret, secret_len, now, (unsigned)p->period,
	    0, (unsigned)p->digits, oath_flags(p->algorithm), out);
	oath_done();
	return rc == OATH_OK ? 0 : WARD_ERR_CRYPTO;
}

int
otp_base32_encode(const unsigned char *in, size_t len, char **out)
{
	size_t olen = 0;

	*out = NULL;
	if (oath_base32_encode((const char *)in, len, out, &olen) != OATH_OK)
		return WARD_ERR_NOMEM;
	/* Authenticator apps want no '=' padding in otpauth:// URIs. */
	while (olen > 0 && (*out)[olen - 1] == '=')
		(*out)[--olen] = '\0';
	return 0;
}

int
otp_base32_decode(const char *in, unsigned char **out, size_t *len)
{
	char *buf = NULL;
	size_t blen = 0;

	*out = NULL;
	*len = 0;
	if (strlen(in) > 1024)
		return WARD_ERR_TOOBIG;
	/* liboath accepts lower case and spaces, and padding or not. */
	if (oath_base32_decode(in, strlen(in), &buf, &blen) != OATH_OK || blen == 0) {
		if (buf != NULL)
			ward_freezero(buf, blen);
		return WARD_ERR_PARSE;
	}
	*out = (unsigned char *)buf;
	*len = blen;
	return 0;
}

size_t
otp_secret_len(int algorithm)
{
	return algorithm == 1 ? 32 : algorithm == 2 ? 64 : 20;
}

const char *
otp_algorithm_name(int algorithm)
{
	return algorithm == 1 ? "SHA256" : algorithm == 2 ? "SHA512" : "SHA1";
}
