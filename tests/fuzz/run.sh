#!/bin/bash
# run.sh OUTDIR - `make fuzz`: build every tests/fuzz/fuzz_*.c with clang's
# libFuzzer under ASan+UBSan and run each for FUZZ_SECONDS (default 60) on a
# copy of its seed corpus.  Exits non-zero when a target crashes.
# FUZZ_TARGETS="fuzz_conf fuzz_reply" limits the run to those targets;
# FUZZ_RUNS=N stops each after N executions instead of after FUZZ_SECONDS
# (whichever comes first).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build/fuzz}
secs=${FUZZ_SECONDS:-60}
mkdir -p "$out/obj"
flags="-g -O1 -std=c11 -D_GNU_SOURCE -Ilib -Ipolicy $(pkg-config --cflags libconfig liboath lmdb openssl ldap)"
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
libs="$(pkg-config --libs libconfig liboath lmdb openssl ldap) -llber"
objs=()
for c in lib/*.c policy/*.c; do
	o="$out/obj/$(echo "$c" | tr / _).o"
	clang $flags $san -fsanitize=fuzzer-no-link -c "$c" -o "$o"
	objs+=("$o")
done
status=0
for t in tests/fuzz/fuzz_*.c; do
	name=$(basename "$t" .c)
	case " ${FUZZ_TARGETS:-$name} " in *" $name "*) ;; *) continue ;; esac
	clang $flags $san -fsanitize=fuzzer "$t" "${objs[@]}" $libs -o "$out/$name"
	work="$out/corpus-$name"
	mkdir -p "$work"
	cp -n tests/fuzz/corpus/"$name"/* "$work"/ 2>/dev/null || true
	echo "== $name: ${secs}s"
	# fuzz_dir: telling libldap's own leaks from dir.c's needs whole stacks
	# (fuzz_dir.c says why), which costs some 30x in speed.  So it is fuzzed
	# without leak checks, then its corpus is replayed once with them.
	asan=
	[ "$name" = fuzz_dir ] && asan=detect_leaks=0:fast_unwind_on_malloc=1
	if ! ASAN_OPTIONS="$asan" LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp" "$out/$name" -max_total_time="$secs" ${FUZZ_RUNS:+-runs="$FUZZ_RUNS"} -print_final_stats=1 \
		-artifact_prefix="$out/$name-" "$work" 2>"$out/$name.log"; then
		echo "$name: CRASH, see $out/$name.log"; status=1
	fi
	grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb" "$out/$name.log" || true
	if [ -n "$asan" ] && ! LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp" "$out/$name" -runs=0 \
		-artifact_prefix="$out/$name-" "$work" 2>"$out/$name-leaks.log"; then
		echo "$name: LEAK in the corpus replay, see $out/$name-leaks.log"; status=1
	fi
done
exit $status
