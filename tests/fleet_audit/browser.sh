#!/bin/bash
# browser.sh HTML OUTDIR NAME - open HTML in a real headless browser
# (Debian's chromium-headless-shell, else chromium) twice: --dump-dom into
# OUTDIR/NAME.dom and --screenshot into OUTDIR/NAME.png, the browser's log
# (--enable-logging=stderr: console messages, failed loads) into
# OUTDIR/NAME.log, its NetLog (every request it made) into
# OUTDIR/NAME.netlog.  Prints "console errors: N" (console messages,
# which include script errors and loads the page's Content-Security-Policy
# refused) and "fetch attempts: N" (requests for anything but the file
# itself: http(s), ws(s), ftp URLs in the NetLog), and exits 0 when both
# runs finished.
#
# How it runs, and why:
#  - without a network: in a new network namespace (unshare -n), so a page
#    that tried to fetch anything could not, and the attempt shows in the
#    log as a failed or refused load;
#  - as nobody, with Chromium's sandbox on: a browser fed a page made from
#    records an attacker may influence should not run as root, and as
#    root Chromium refuses to start without --no-sandbox;
#  - in its own session (setsid), stopped by its PID's process group after
#    at most 60 s, and the session checked empty at the end: no helper
#    process (zygote, GPU, renderer) is left behind.
set -u
html=$1 out=$2 name=$3
b=$(command -v chromium-headless-shell || command -v chromium) ||
	{ echo "browser.sh: no chromium-headless-shell or chromium (contrib/install-deps.sh)"; exit 2; }
prof=$(mktemp -d /tmp/ward-browser.XXXXXX)
chmod 0755 "$prof"
chown nobody:nogroup "$prof"
cp "$html" "$prof/page.html"
chmod 0644 "$prof/page.html"
: >"$out/$name.log"

# run MODE-ARGS...: one browser run, output to stdout
run() {
	local pid rc=0 i net=$1
	shift
	setsid unshare -n runuser -u nobody -- env HOME="$prof" "$b" --headless \
		--no-first-run --disable-gpu --disable-extensions --disable-sync \
		--user-data-dir="$prof/profile" --enable-logging=stderr --v=0 \
		--log-net-log="$prof/$net" \
		--window-size=1200,1600 "$@" "file://$prof/page.html" \
		2>>"$out/$name.log" &
	pid=$!
	for ((i = 0; i < 600; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "browser.sh: the browser did not finish in 60 s" >&2
		kill -TERM -- "-$pid" 2>/dev/null
		rc=1
	fi
	wait "$pid" || rc=1
	# setsid made PID the session's leader: nothing of that session may stay
	for ((i = 0; i < 50; i++)); do
		[ -z "$(ps -o pid= -s "$pid" 2>/dev/null)" ] && break
		[ "$i" -eq 20 ] && kill -KILL -- "-$pid" 2>/dev/null
		sleep 0.1
	done
	if [ -n "$(ps -o pid= -s "$pid" 2>/dev/null)" ]; then
		echo "browser.sh: processes of the browser's session $pid are left" >&2
		rc=1
	fi
	return $rc
}

rc=0
run net1.json --dump-dom >"$out/$name.dom" || rc=1
(cd "$prof" && run net2.json --screenshot="$prof/shot.png" >/dev/null) || rc=1
cp "$prof/shot.png" "$out/$name.png" 2>/dev/null || rc=1
cat "$prof/net1.json" "$prof/net2.json" >"$out/$name.netlog" 2>/dev/null || rc=1
rm -rf "$prof"
# console messages are logged as CONSOLE(...) lines; a script error says
# "Uncaught"; a load the page tried (and could not make: no network, or
# refused by its Content-Security-Policy) names the URL or the directive
echo "console errors: $(grep -c -E 'CONSOLE|Uncaught' "$out/$name.log")"
echo "fetch attempts: $(grep -o -E '"url":"(https?|wss?|ftp):[^"]*"' "$out/$name.netlog" | wc -l)"
exit $rc
