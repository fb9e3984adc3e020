/* cmd_policy.c - placeholder until its part lands; every command here fails (exit 2). */
#include "wardctl.h"

int
cmd_policy(struct wopts *o)
{
	(void)o;
	fprintf(stderr, "wardctl: policy: not built yet\n");
	return WEXIT_ERR;
}

int
cmd_can(struct wopts *o)
{
	(void)o;
	fprintf(stderr, "wardctl: can: not built yet\n");
	return WEXIT_ERR;
}

