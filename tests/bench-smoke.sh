#!/bin/bash
# bench-smoke.sh BUILD - part of `make check`: the PAM-level benchmarks run
# end to end, briefly (bench/run-20-pam.sh with 50 users, 5 rounds, 8
# clients at once for one round and 3 logins under strace;
# bench/run-25-fleet.sh with 2 users a case, 5 rounds and 1 under strace;
# bench/run-60-enum.sh with 5 rounds), each with the wardds it starts;
# bench/run-47-fleet-report.sh over 20 hosts x 1,000 records, once.  Their figures are not judged (no
# timing thresholds in tests); what fails here is a benchmark that no longer
# runs: a change to the module's behaviour (a prompt where there was none, a
# denial) stops its warm-up round, as a change of account's behaviour once
# did unnoticed until `make bench`.  Output in BUILD/bench-smoke.log.
set -u
cd "$(dirname "$0")/.."
build=$1
log="$build/bench-smoke.log"
export WARD_BUILD="$build" WARD_SRC="$PWD"
: >"$log"
status=0
for s in run-20-pam run-25-fleet run-60-enum run-47-fleet-report; do
	t0=$(date +%s%N)
	if BENCH_PAM_USERS=50 BENCH_PAM_ROUNDS=5 BENCH_PAM_MAXSEC=10 BENCH_PAM_CLIENTS=8 \
		BENCH_PAM_CROWD_ROUNDS=1 BENCH_PAM_FSYNC_LOGINS=3 BENCH_ENUM_ROUNDS=5 \
		BENCH_FLEET_USERS=2 BENCH_FLEET_ROUNDS=5 BENCH_FLEET_STRACE=1 \
		BENCH_FLEET_HOSTS=20 BENCH_FLEET_RECORDS=1000 BENCH_FLEET_RUNS=1 \
		bash "bench/$s.sh" >>"$log" 2>&1; then
		printf -- "---- bench smoke: %-12s %5d ms  runs\n" "$s" $((($(date +%s%N) - t0) / 1000000))
	else
		echo "---- bench smoke: $s FAILED (its output below, and in $log)"
		tail -20 "$log"
		status=1
	fi
done
exit $status
