/*
 * audit_names.c - the lookups of audit_names.h, over its tables.
 */
#include <stddef.h>
#include <string.h>

#include "audit_names.h"

#define AUDIT_NAME(id, name) name,
static const char *const event_names[] = { AUDIT_EVENTS(AUDIT_NAME) };
static const char *const result_names[] = { AUDIT_RESULTS(AUDIT_NAME) };
static const char *const factor_names[] = { AUDIT_FACTORS(AUDIT_NAME) };
#undef AUDIT_NAME

static const char *
name_of(const char *const *names, size_t n, int v)
{
	return v >= 0 && (size_t)v < n ? names[v] : NULL;
}

static int
value_of(const char *const *names, size_t n, const char *name)
{
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (names[i] != NULL && strcmp(names[i], name) == 0)
			return (int)i;
	return -1;
}

#define NNAMES(a) (sizeof(a) / sizeof((a)[0]))

const char *
audit_event_name(enum audit_ev e)
{
	return name_of(event_names, NNAMES(event_names), (int)e);
}

const char *
audit_result_name(enum audit_res r)
{
	return name_of(result_names, NNAMES(result_names), (int)r);
}

const char *
audit_factor_name(enum audit_fac f)
{
	return name_of(factor_names, NNAMES(factor_names), (int)f);
}

int
audit_event_from(const char *name)
{
	return value_of(event_names, NNAMES(event_names), name);
}

int
audit_result_from(const char *name)
{
	return value_of(result_names, NNAMES(result_names), name);
}

int
audit_factor_from(const char *name)
{
	if (name == NULL)
		return AUDIT_FAC_ABSENT;
	return value_of(factor_names, NNAMES(factor_names), name);
}
