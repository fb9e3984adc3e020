# shellcheck shell=bash
# wardd.sh - sourced by the bench/run-*.sh scripts that log in through
# pam_ward: each starts its own wardd (the build's $WARD_BUILD/wardd, in
# the foreground of a background job) on its fixture and stops it again.
#
#   wardd_start CONF SOCK LOG   start wardd --config CONF --socket SOCK
#                               (its stderr in LOG), wait until it answers
#                               a PING (bench/wardd_wait.c); sets WARDD_PID
#   wardd_stop PID              SIGTERM, wait for it to exit (SIGKILL
#                               after 10 s)
#   wardd_stop_all              every wardd started here still running
#   bench_fg CMD...             run CMD and return its status, as a job
#                               waited for: bash runs a trap only between
#                               commands or inside `wait`, so a signal to
#                               the script is handled at once, not after a
#                               minute of benchmark
#   bench_jobs_stop             SIGTERM every job bench_fg or the caller
#                               (bench_track PID) started that still runs
#   strace_attach PID OUT ARGS  strace -f ARGS attached to PID (a job,
#                               tracked), returned once it traces; sets SPID
#   bench_need_root             exit 0 with "skipped: ..." unless root
#
# Sourcing it also sets $wardctl and $module, the build's wardctl and
# pam_ward.so.
#
# The caller's EXIT trap calls bench_jobs_stop then wardd_stop_all (and its
# INT/TERM/HUP traps exit), so an interrupted benchmark leaves no process
# behind; a benchmark killed outright takes its daemons with it, since each
# is started with a parent-death signal (setpriv --pdeathsig) when
# util-linux offers one.  Only the PIDs started here are ever signalled,
# and only while this shell lists them as its running jobs.

wardd_pids=()
bench_pids=()
# shellcheck disable=SC2034 # used by the scripts that source this
wardctl="$WARD_BUILD/wardctl"
# shellcheck disable=SC2034
module="$WARD_BUILD/pam_ward.so"

bench_need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "skipped: needs root (wardd reads a root-owned store; wardctl init)"
		exit 0
	fi
}

wardd_start() {
	local conf=$1 sock=$2 log=$3 pid pdeath=()
	mkdir -p "$(dirname "$sock")"
	chmod 0755 "$(dirname "$sock")"
	if setpriv --help 2>/dev/null | grep -q -- --pdeathsig; then
		pdeath=(setpriv --pdeathsig KILL)
	fi
	"${pdeath[@]}" "$WARD_BUILD/wardd" --config "$conf" --socket "$sock" >>"$log" 2>&1 &
	pid=$!
	wardd_pids+=("$pid")
	if ! "$WARD_BUILD/bench/wardd_wait" "$sock" "$pid" 10; then
		echo "wardd --config $conf did not start (it says why in syslog, ident" \
			"wardd); its output:" >&2
		tail -20 "$log" >&2
		return 1
	fi
	# shellcheck disable=SC2034 # the caller's
	WARDD_PID=$pid
}

# term_wait PID: SIGTERM, up to 10 s for the exit, then SIGKILL; reaped.
# Signals go only to a PID this shell still lists as its running job
# (jobs -rp), never to a number that may have been reused.
running() { jobs -rp | grep -qx "$1"; }
term_wait() {
	local pid=$1 i
	running "$pid" && kill -TERM "$pid" 2>/dev/null
	for i in $(seq 1 200); do
		running "$pid" || break
		sleep 0.05
	done
	running "$pid" && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
}

wardd_stop() {
	local pid=$1 i keep=()
	term_wait "$pid"
	for i in "${wardd_pids[@]}"; do
		[ "$i" = "$pid" ] || keep+=("$i")
	done
	wardd_pids=("${keep[@]}")
}

wardd_stop_all() {
	local pid
	for pid in "${wardd_pids[@]}"; do
		term_wait "$pid"
	done
	wardd_pids=()
bench_pids=()
}

bench_track() {
	bench_pids+=("$1")
}

bench_fg() {
	local pid rc=0
	"$@" &
	pid=$!
	bench_track "$pid"
	wait "$pid" || rc=$?
	return $rc
}

bench_jobs_stop() {
	local pid
	for pid in "${bench_pids[@]}"; do
		term_wait "$pid"
	done
	bench_pids=()
}

# strace_attach PID OUT ARGS...: strace -f ARGS on PID into OUT (its
# stderr in OUT.err), returned once the kernel names it as PID's tracer;
# sets SPID, or returns 1 when strace cannot attach here.
strace_attach() {
	local pid=$1 out=$2 i
	shift 2
	strace -f -qq "$@" -o "$out" -p "$pid" 2>"$out.err" &
	SPID=$!
	bench_track "$SPID"
	for i in $(seq 1 100); do
		[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$pid/status")" != 0 ] && break
		running "$SPID" || break
		sleep 0.05
	done
	if ! running "$SPID"; then
		wait "$SPID" || true
		echo "skipped: strace cannot attach to wardd here: $(head -1 "$out.err")"
		return 1
	fi
}
