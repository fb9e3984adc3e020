/* cmd_user.c - placeholder until its part lands; every command here fails (exit 2). */
#include "wardctl.h"

int
cmd_init(struct wopts *o)
{
	(void)o;
	fprintf(stderr, "wardctl: init: not built yet\n");
	return WEXIT_ERR;
}

int
cmd_enroll(struct wopts *o)
{
	(void)o;
	fprintf(stderr, "wardctl: enroll: not built yet\n");
	return WEXIT_ERR;
}

int
cmd_reset(struct wopts *o)
{
	(void)o;
	fprintf(stderr, "wardctl: reset: not built yet\n");
	return WEXIT_ERR;
}

int
cmd_unlock(struct wopts *o)
{
	(void)o;
	fprintf(stderr, "wardctl: unlock: not built yet\n");
	return WEXIT_ERR;
}

int
cmd_status(struct wopts *o)
{
	(void)o;
	fprintf(stderr, "wardctl: status: not built yet\n");
	return WEXIT_ERR;
}

int
cmd_recovery_codes(struct wopts *o)
{
	(void)o;
	fprintf(stderr, "wardctl: recovery_codes: not built yet\n");
	return WEXIT_ERR;
}

