/*
 * audit_int.h - what the audit trail's files share (audit_record.c,
 * audit_log.c, audit_verify.c); not for callers of the trail (audit.h).
 */
#ifndef WARD_AUDIT_INT_H
#define WARD_AUDIT_INT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "audit.h"

/* HMAC-SHA-256 under the audit key (OpenSSL EVP_MAC; the key is set once,
 * each audit_hmac_hex re-inits with it). */
struct hmac {
	EVP_MAC *mac;
	EVP_MAC_CTX *ctx;
};
/* 0 or WARD_ERR_CRYPTO; H is for audit_hmac_free either way. */
int audit_hmac_init(struct hmac *h, const unsigned char *key, size_t keylen);
void audit_hmac_free(struct hmac *h);
/* The MAC of DATA in lowercase hex into OUT: 0 or WARD_ERR_CRYPTO. */
int audit_hmac_hex(struct hmac *h, const void *data, size_t len,
    char out[AUDIT_MAC_HEX + 1]);

/* Now, in milliseconds since the epoch. */
int64_t audit_now_ms(void);
/* This machine's host name up to the first dot ("localhost" if none). */
void audit_short_host(char *buf, size_t len);

/*
 * The record line for EV (with its newline) into BUF, MAC'd with H: returns
 * its length, 0 when it does not fit or EV lacks event/result.
 */
size_t audit_format_line(const struct audit_event *ev, uint64_t seq, const char *prev,
    const char *host, int64_t ts_ms, long long pid, struct hmac *h, char *buf,
    size_t buflen);

/*
 * The parser behind audit_parse_line (STORE 1).  STORE 0 validates only: X
 * gets seq, ts_ms, offline, pid, prev, mac, mac_offset, host_at, host_len
 * and nroles, no strings and no memory (what verify and the append need,
 * fast).
 */
int audit_parse(const char *line, size_t len, struct audit_record *x, int store,
    char *err, size_t errlen);

/*
 * What a fleet verification adds (audit_fleet.c): HOST, the host the files
 * are of (a record whose MAC holds but that names another host is
 * AUDIT_BAD_HOST); FOREIGN, called for a record whose MAC does not hold:
 * 1 with WHAT filled when another host's key makes it hold (the record is
 * AUDIT_BAD_FOREIGN), 0 otherwise (AUDIT_BAD_MAC).
 */
struct audit_vhost {
	const char *host;
	int (*foreign)(void *ctx, const char *line, size_t len,
	    const struct audit_record *r, char *what, size_t whatlen);
	void *ctx;
};
/* audit_verify_set with the key set up in H, no state store, and VH (not
 * NULL). */
int audit_verify_keyed(struct hmac *h, const struct audit_fileset *set,
    const struct audit_vhost *vh, struct audit_verify_result *res);

#endif
