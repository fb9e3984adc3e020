/* fuzz_wire.c - a frame from a peer, through lib/wire.c's decoder (what
 * wardd does with every request, and the module with every answer).
 * Invariants: decoding never reads past the input or crashes; a frame
 * that decodes encodes again to exactly the same bytes (the codec has one
 * form per message: the table's rules are checked both ways); every
 * field's value is where the getters say, NUL-terminated; a header that
 * passes wire_header declares at most WIRE_MAX_PAYLOAD. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char out[WIRE_MAX_FRAME];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_msg m;
	size_t len = 0;
	uint16_t type;
	uint32_t plen;

	if (size > WIRE_MAX_FRAME + 16)
		return 0;
	if (size >= WIRE_HEADER_LEN && wire_header(data, &type, &plen) == 0 &&
	    plen > WIRE_MAX_PAYLOAD)
		abort();
	if (wire_decode(data, size, &m) == 0) {
		if (wire_encode(&m, out, sizeof(out), &len) != 0 || len != size ||
		    memcmp(out, data, size) != 0)
			abort();
		for (size_t i = 0; i < m.nfields; i++) {
			const char *s = wire_get_str_at(&m, m.f[i].tag, 0);

			if (m.buf[m.f[i].off + m.f[i].len] != '\0')
				abort();
			/* a str or hex value holds no NUL: its strlen is its length */
			if (s != NULL && wire_count(&m, m.f[i].tag) == 1 &&
			    strlen(s) != m.f[i].len)
				abort();
		}
	}
	wire_msg_wipe(&m);
	return 0;
}
