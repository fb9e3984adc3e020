/*
 * fleet_html.c - wardctl audit report --fleet --html FILE: what the fleet
 * report found (fleet_report.h) as one HTML page a security team can open
 * anywhere, mail or archive.  wardctl(8), AUDIT ACROSS A FLEET.
 *
 * Rules it keeps:
 *  - self-contained: inline CSS and inline SVG charts, no script, nothing
 *    fetched (no link, font, image or frame); a Content-Security-Policy of
 *    default-src 'none' says so to the browser, so even a string that
 *    slipped through could load or run nothing;
 *  - every string that comes from records (users, hosts, services,
 *    reasons, and the findings' sentences that quote them) goes through
 *    html_text: & < > " ' as entities, a control character or a byte that
 *    is not UTF-8 as U+FFFD; attribute values are only our own words;
 *  - the numbers are the text and --json reports' (the same struct).
 */
#include <stdio.h>
#include <string.h>

#include "fleet_report.h"
#include "wardctl.h"

#define CHART_W 720
#define BAR_H 18
#define HOUR_BARS 96                 /* at most this many bars: hours binned */

/* S as HTML text (or an attribute's value: quotes are escaped too). */
static void
html_text(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "-");
	size_t len = strlen((const char *)p), k;

	for (size_t i = 0; i < len; i += k) {
		k = 1;
		switch (p[i]) {
		case '&': fputs("&amp;", f); continue;
		case '<': fputs("&lt;", f); continue;
		case '>': fputs("&gt;", f); continue;
		case '"': fputs("&quot;", f); continue;
		case '\'': fputs("&#39;", f); continue;
		default: break;
		}
		{
			int ok;

			k = text_char(p + i, len - i, &ok);
			if (ok)
				fwrite(p + i, 1, k, f);
			else
				fputs("&#xfffd;", f);
		}
	}
}

static const char style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d232a;max-width:1100px}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;"
    "border-bottom:1px solid #d0d7de;padding-bottom:4px}"
    "table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;"
    "padding:5px 8px;border-bottom:1px solid #e4e8ec}th{background:#f3f5f7}"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".rule{font-family:ui-monospace,monospace;white-space:nowrap;color:#8a1c1c}"
    ".recs{font-family:ui-monospace,monospace;font-size:12px;white-space:nowrap}"
    ".sum{color:#444}.none{color:#2a6b2a}.left{color:#8a1c1c}"
    "svg{display:block;margin:6px 0 18px}svg text{font:11px system-ui,sans-serif;"
    "fill:#333}.bar{fill:#4a78a8}.bar.bg{fill:#b0562a}.bar.f{fill:#8a1c1c}"
    "p.thr{color:#555;font-size:12px}";

/* Horizontal bars: one row a name, its count written beside. */
static void
hbars(FILE *f, const char *id, const char *title, const char *cls,
    const struct fr_named *v, size_t n)
{
	uint64_t max = 1;
	int h = (int)n * (BAR_H + 4) + 8;

	for (size_t i = 0; i < n; i++)
		if (v[i].n > max)
			max = v[i].n;
	fprintf(f, "<svg id=\"%s\" role=\"img\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
	    "xmlns=\"http://www.w3.org/2000/svg\"><title>%s</title>\n", id, CHART_W,
	    n ? h : 24, CHART_W, n ? h : 24, title);
	if (n == 0)
		fputs("<text x=\"0\" y=\"16\">none</text>\n", f);
	for (size_t i = 0; i < n; i++) {
		int y = 4 + (int)i * (BAR_H + 4);
		int w = (int)((double)v[i].n / (double)max * (CHART_W - 260));

		fprintf(f, "<text x=\"0\" y=\"%d\">", y + 13);
		html_text(f, v[i].name);
		fprintf(f, "</text><rect class=\"bar %s\" x=\"200\" y=\"%d\" width=\"%d\" "
		    "height=\"%d\"><title>", cls, y, w > 1 ? w : 1, BAR_H);
		html_text(f, v[i].name);
		fprintf(f, ": %llu</title></rect><text class=\"v\" x=\"%d\" y=\"%d\">%llu</text>\n",
		    (unsigned long long)v[i].n, 206 + (w > 1 ? w : 1), y + 13,
		    (unsigned long long)v[i].n);
	}
	fputs("</svg>\n", f);
}

/* Failures per hour (binned to at most HOUR_BARS bars). */
static void
hours_chart(FILE *f, const struct fr_view *v)
{
	size_t per = v->nhours > HOUR_BARS ? (v->nhours + HOUR_BARS - 1) / HOUR_BARS : 1;
	size_t nb = (v->nhours + per - 1) / per;
	uint64_t max = 1, sum;
	const int top = 16, ch = 120;
	char a[32], b[32];

	for (size_t i = 0; i < nb; i++) {
		sum = 0;
		for (size_t k = i * per; k < v->nhours && k < (i + 1) * per; k++)
			sum += v->fail_hour[k];
		if (sum > max)
			max = sum;
	}
	fprintf(f, "<svg id=\"chart-hours\" role=\"img\" width=\"%d\" height=\"%d\" "
	    "viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\"><title>"
	    "Authentication failures per %zu hour%s</title>\n", CHART_W, ch + top + 24,
	    CHART_W, ch + top + 24, per, per == 1 ? "" : "s");
	if (nb == 0) {
		fputs("<text x=\"0\" y=\"16\">none</text></svg>\n", f);
		return;
	}
	fprintf(f, "<text x=\"0\" y=\"11\">max %llu per %zu h</text>\n",
	    (unsigned long long)max, per);
	for (size_t i = 0; i < nb; i++) {
		double bw = (double)CHART_W / (double)nb;
		int hgt;

		sum = 0;
		for (size_t k = i * per; k < v->nhours && k < (i + 1) * per; k++)
			sum += v->fail_hour[k];
		hgt = (int)((double)sum / (double)max * ch);
		fleet_ts(v->hour0_ms + (int64_t)(i * per) * 3600000, a, sizeof(a));
		fprintf(f, "<rect class=\"bar f\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\">"
		    "<title>%s: %llu</title></rect>\n", (double)i * bw, top + ch - hgt,
		    bw > 2 ? bw - 1 : bw, hgt, a, (unsigned long long)sum);
	}
	fleet_ts(v->hour0_ms, a, sizeof(a));
	fleet_ts(v->hour0_ms + (int64_t)v->nhours * 3600000, b, sizeof(b));
	fprintf(f, "<text x=\"0\" y=\"%d\">%s</text><text x=\"%d\" y=\"%d\" "
	    "text-anchor=\"end\">%s</text></svg>\n", top + ch + 16, a, CHART_W, top + ch + 16, b);
}

int
fleet_html(FILE *f, const struct fr_view *v)
{
	char ts[32];

	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	    "style-src 'unsafe-inline'\">\n<title>Ward fleet audit report</title>\n<style>", f);
	fputs(style, f);
	fputs("</style></head><body>\n<h1>Ward fleet audit report</h1>\n<p class=\"sum\">"
	    "fleet ", f);
	html_text(f, v->fleet);
	fprintf(f, ": <b id=\"n-hosts\">%zu</b> hosts analysed (<b id=\"n-left\">%zu</b> left "
	    "out), <b id=\"n-records\">%llu</b> records, <b id=\"n-users\">%zu</b> users, "
	    "<b id=\"n-failures\">%llu</b> authentication failures, <b id=\"n-breakglass\">"
	    "%llu</b> break-glass</p>\n", v->hosts, v->left_out,
	    (unsigned long long)v->records, v->users, (unsigned long long)v->failures,
	    (unsigned long long)v->breakglass);
	fputs("<table id=\"rules\"><tr><th>rule</th><th class=\"n\">findings</th></tr>\n", f);
	for (size_t i = 0; i < v->nrules; i++)
		fprintf(f, "<tr><td class=\"rule\">%s</td><td class=\"n\" id=\"rule-%s\">%zu</td>"
		    "</tr>\n", v->rule_names[i], v->rule_names[i], v->by_rule[i]);
	fprintf(f, "</table>\n<h2>Findings (<span id=\"n-findings\">%zu</span>)</h2>\n", v->nf);
	if (v->nf == 0)
		fputs("<p class=\"none\">No finding.</p>\n", f);
	else
		fputs("<table id=\"findings\"><tr><th>rule</th><th>user</th><th>host</th>"
		    "<th>why</th><th>records (host, seq, time)</th></tr>\n", f);
	for (size_t i = 0; i < v->nf; i++) {
		const struct fr_finding *x = &v->f[i];

		fprintf(f, "<tr class=\"finding\" data-rule=\"%s\"><td class=\"rule\">%s</td><td>",
		    x->rule, x->rule);
		html_text(f, x->user);
		fputs("</td><td>", f);
		html_text(f, x->host);
		fputs("</td><td>", f);
		html_text(f, x->what);
		fputs("</td><td class=\"recs\">", f);
		for (size_t k = 0; k < x->nrecs; k++) {
			fleet_ts(x->recs[k].ts_ms, ts, sizeof(ts));
			fputs(k ? "<br>" : "", f);
			html_text(f, x->recs[k].host);
			fprintf(f, " seq %llu %s", (unsigned long long)x->recs[k].seq, ts);
		}
		fputs("</td></tr>\n", f);
	}
	if (v->nf > 0)
		fputs("</table>\n", f);
	if (v->nleft > 0) {
		fputs("<h2>Hosts left out (not verified: their records were not analysed)</h2>\n"
		    "<ul id=\"left\">\n", f);
		for (size_t i = 0; i < v->nleft; i++) {
			fputs("<li class=\"left\">", f);
			html_text(f, v->left[i]);
			fputs("</li>\n", f);
		}
		fputs("</ul>\n", f);
	}
	fputs("<h2>Authentication failures per hour (UTC)</h2>\n", f);
	hours_chart(f, v);
	fputs("<h2>Authentication failures per host (top 10)</h2>\n", f);
	hbars(f, "chart-hosts", "Authentication failures per host", "", v->top_hosts,
	    v->ntop_hosts);
	fputs("<h2>Break-glass per person (top 10)</h2>\n", f);
	hbars(f, "chart-breakglass", "Break-glass per person", "bg", v->top_bg, v->ntop_bg);
	fputs("<p class=\"thr\">Thresholds: ", f);
	html_text(f, v->thresholds);
	fputs(". Every host's chain was verified before its records were read "
	    "(wardctl(8), AUDIT ACROSS A FLEET).</p>\n</body></html>\n", f);
	return ferror(f) ? -1 : 0;
}
