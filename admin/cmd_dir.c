/* cmd_dir.c - placeholder until its part lands; every command here fails (exit 2). */
#include "wardctl.h"

int
cmd_directory(struct wopts *o)
{
	(void)o;
	fprintf(stderr, "wardctl: directory: not built yet\n");
	return WEXIT_ERR;
}

