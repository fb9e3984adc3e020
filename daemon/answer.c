/*
 * answer.c - wardd's answer to one decoded request.
 *
 * Rules it keeps: every answer starts as a WIRE_ERROR and becomes
 * something else only once it is complete; a DECIDE is answered with the
 * policy in force now (the files are looked at first, wardd_recheck) and
 * the user's roles as core_resolve finds them (local users from the
 * policy, the directory when ward.conf has one); a peer other than root
 * learns only about itself, on this workstation (peer.c).
 */
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "wardd.h"

static void
ping(struct wardd *d, struct wire_msg *ans)
{
	wire_msg_init(ans, WIRE_PONG);
	(void)wire_put_str(ans, WT_VERSION, WARD_VERSION);
	/* the loop alone replaces d->gen: no lock needed to read it here */
	(void)wire_put_str(ans, WT_POLICY_VERSION, policy_version(d->gen->c.pol));
}

static void
decide(struct core *c, const struct peer *p, const struct wire_msg *req,
    struct wire_msg *ans)
{
	const char *user = wire_get_str(req, WT_USER);
	const char *service = wire_get_str(req, WT_SERVICE);
	const char *host = wire_get_str(req, WT_HOST);
	struct policy_decision dec;
	struct core_who w;
	char roles[4096];
	time_t now = time(NULL);
	int r;

	if (user == NULL || service == NULL || ward_user_valid(user) != 0 ||
	    ward_user_valid(service) != 0 || (host != NULL && ward_user_valid(host) != 0)) {
		(void)wire_error(ans, WARD_ERR_INVAL, "invalid user, service or host name");
		return;
	}
	/* another host's decision is a question for root (wardctl policy test) */
	if (peer_may_ask(p, user) != 0 ||
	    (p->uid != 0 && host != NULL && strcmp(host, c->host) != 0)) {
		if (peer_may_log(p->key))
			ward_log(LOG_NOTICE, "peer uid %lu pid %ld asked about another user or "
			    "host: refused", (unsigned long)p->uid, (long)p->pid);
		(void)wire_error(ans, WARD_ERR_PERM, NULL);
		return;
	}
	if ((r = core_resolve(c, user, now, &w)) != 0) {
		(void)wire_error(ans, r, NULL);
		return;
	}
	if (host == NULL || strcmp(host, c->host) == 0) {
		core_decide_who(c, &w, user, service, now, &dec);
	} else {
		struct policy_request rq;

		memset(&rq, 0, sizeof(rq));
		rq.user = user;
		rq.roles = w.roles;
		rq.nroles = w.nroles;
		rq.service = service;
		rq.host = host;
		policy_request_set_time(&rq, now);
		policy_decide(c->pol, &rq, &dec);
	}
	wire_msg_init(ans, WIRE_DECISION);
	(void)wire_put_bool(ans, WT_ALLOW, dec.allow != 0);
	(void)wire_put_str(ans, WT_RULE, dec.rule != NULL ? dec.rule : "");
	(void)wire_put_str(ans, WT_REASON, dec.reason != NULL ? dec.reason : "");
	if (dec.app != NULL)
		(void)wire_put_str(ans, WT_APP, dec.app);
	(void)wire_put_bool(ans, WT_MFA_REQUIRED, dec.mfa_required != 0);
	(void)wire_put_i64(ans, WT_MFA_GRACE, dec.mfa_grace);
	(void)wire_put_i64(ans, WT_IDLE_LOGOFF, dec.idle_logoff);
	(void)wire_put_i64(ans, WT_SESSION_MAX, dec.session_max);
	(void)wire_put_bool(ans, WT_BREAK_GLASS, dec.break_glass != 0);
	(void)wire_put_str(ans, WT_ROLES, core_roles_joined(c, &w, roles,
	    sizeof(roles)));
	(void)wire_put_str(ans, WT_POLICY_VERSION, policy_version(c->pol));
	if (ans->err != 0) {
		/* a reason or rule over its wire bound: say so, decide nothing */
		ward_log(LOG_ERR, "decision for %s on %s does not fit the protocol (%s)",
		    user, service, ward_strerror(ans->err));
		wire_msg_wipe(ans);
		(void)wire_error(ans, WARD_ERR_INTERNAL, "decision does not fit the protocol");
	}
}

void
answer_request(struct wardd *d, const struct peer *p, const struct wire_msg *req,
    struct wire_msg *ans)
{
	(void)wire_error(ans, WARD_ERR_PROTO, "not a request");
	wardd_recheck(d, p->uid != 0);
	switch (req->type) {
	case WIRE_PING:
		wire_msg_wipe(ans);
		ping(d, ans);
		break;
	case WIRE_DECIDE: {
		struct wardd_gen *g;

		wire_msg_wipe(ans);
		pthread_mutex_lock(&d->lock);
		g = wardd_gen_pin(d);
		wardd_gen_enter(d, g);
		g->c.st_err = 0;
		decide(&g->c, p, req, ans);
		wardd_gen_leave(d, g);
		wardd_gen_put(g);
		pthread_mutex_unlock(&d->lock);
		break;
	}
	default:
		break;
	}
}

int
answer_phase_admit(struct wardd *d, const struct peer *p, const struct wire_msg *req,
    struct wire_msg *ans)
{
	const char *user = wire_get_str(req, WT_USER);
	const char *service = wire_get_str(req, WT_SERVICE);
	uint32_t phase = 0, flags = 0;

	wire_msg_init(ans, WIRE_ERROR);
	(void)wire_get_u32(req, WT_PHASE, &phase);
	(void)wire_get_u32(req, WT_FLAGS, &flags);
	if (user == NULL || service == NULL ||
	    phase < WIRE_PH_AUTH || phase > WIRE_PH_CLOSE_SESSION || (flags & ~WIRE_F_ALL) != 0) {
		(void)wire_error(ans, WARD_ERR_PROTO, "a phase request with an unknown phase "
		    "or flag");
		return WARD_ERR_PROTO;
	}
	/*
	 * The service names the policy's app and goes into log lines as it is:
	 * a name of the same form as a user name, or the request is refused
	 * (a newline would forge a log line).  The user name is the flow's to
	 * judge: a malformed one is refused and recorded there, by its size.
	 */
	if (ward_user_valid(service) != 0) {
		if (peer_may_log(p->key))
			ward_log(LOG_NOTICE, "peer uid %lu pid %ld sent a malformed service name "
			    "(%zu bytes): refused", (unsigned long)p->uid, (long)p->pid,
			    strlen(service));
		(void)wire_error(ans, WARD_ERR_INVAL, "invalid service name");
		return WARD_ERR_INVAL;
	}
	/*
	 * Without root: auth and account of one's own user name (a screen
	 * locker), break-glass included; never a session (the session's
	 * record and variables are the login program's, and it runs as root).
	 */
	if (p->uid != 0 && (peer_may_ask(p, user) != 0 || phase > WIRE_PH_ACCOUNT)) {
		if (peer_may_log(p->key))
			ward_log(LOG_NOTICE, "peer uid %lu pid %ld asked for %s: refused",
			    (unsigned long)p->uid, (long)p->pid, phase > WIRE_PH_ACCOUNT ?
			    "a session phase (root only)" : "another user's login");
		(void)wire_error(ans, WARD_ERR_PERM, NULL);
		return WARD_ERR_PERM;
	}
	wardd_recheck(d, p->uid != 0);
	return 0;
}
