/* cmd_audit.c - placeholder until its part lands; every command here fails (exit 2). */
#include "wardctl.h"

int
cmd_audit(struct wopts *o)
{
	(void)o;
	fprintf(stderr, "wardctl: audit: not built yet\n");
	return WEXIT_ERR;
}

