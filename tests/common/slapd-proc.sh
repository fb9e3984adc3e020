# slapd-proc.sh - what the test scripts that start slapd share (sourced by
# tests/dir/slapd.sh and tests/fleet/pair.sh): free loopback ports, and
# stopping only the slapd a script started, by the pid it wrote.

# A port is free when a TCP connect to it is refused: free_port [HOST] PORT.
free_port() {
	local host=127.0.0.1
	[ $# -gt 1 ] && { host=$1; shift; }
	! (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null
}

# Running, and not a zombie (the container may reap late).
running() {
	local s
	s=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]
}

# ours PID DIR: is PID the slapd started with -F DIR/slapd.d?
ours() {
	running "$1" && tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null |
		grep -qF -- "-F $2/slapd.d "
}

# stop_slapd DIR: stop the slapd whose pid DIR/slapd.pid holds, only when
# it is the slapd of DIR (SIGCONT first, in case a test stopped it), wait
# until it is gone (SIGKILL after 5 s), forget the pid.
stop_slapd() {
	local d=$1 pid i
	[ -f "$d/slapd.pid" ] || return 0
	pid=$(cat "$d/slapd.pid")
	if ours "$pid" "$d"; then
		kill -CONT "$pid" 2>/dev/null || true
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 500; i++)); do
			running "$pid" || break
			sleep 0.01
		done
		if running "$pid"; then
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.1
		fi
	fi
	rm -f "$d/slapd.pid"
}
