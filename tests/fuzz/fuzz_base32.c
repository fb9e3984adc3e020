/* fuzz_base32.c - base32 input (wardctl enroll --secret BASE32), decoded by
 * liboath through otp_base32_decode.  Arbitrary text must decode or be
 * refused, never crash; whatever decodes must re-encode to text that
 * decodes to the same bytes; and arbitrary bytes must survive
 * encode -> decode unchanged (what enrol writes into the otpauth:// URI is
 * what a phone reads back). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "otp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *bin = NULL, *bin2 = NULL;
	size_t blen = 0, blen2 = 0;
	char *text, *b32 = NULL;
	int r;

	if (size > 4096)
		return 0;
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	/* 1. the bytes as typed text */
	r = otp_base32_decode(text, &bin, &blen);
	if (r == 0) {
		if (bin == NULL || blen == 0)
			abort();
		if (otp_base32_encode(bin, blen, &b32) != 0)
			abort();
		if (strchr(b32, '=') != NULL)
			abort();        /* URIs carry no padding */
		if (otp_base32_decode(b32, &bin2, &blen2) != 0 || blen2 != blen ||
		    memcmp(bin, bin2, blen) != 0)
			abort();
		ward_freezero(bin2, blen2);
		ward_free_str_secret(b32);
		b32 = NULL;
		ward_freezero(bin, blen);
	} else if (r != WARD_ERR_PARSE && r != WARD_ERR_TOOBIG) {
		abort();
	} else if (bin != NULL || blen != 0) {
		abort();
	}
	/* 2. the bytes as a secret */
	if (size > 0 && size <= 512) {
		if (otp_base32_encode(data, size, &b32) != 0)
			abort();
		for (const char *p = b32; *p; p++)
			if (!((*p >= 'A' && *p <= 'Z') || (*p >= '2' && *p <= '7')))
				abort();
		if (otp_base32_decode(b32, &bin, &blen) != 0 || blen != size ||
		    memcmp(bin, data, size) != 0)
			abort();
		ward_freezero(bin, blen);
		ward_free_str_secret(b32);
	}
	free(text);
	return 0;
}
