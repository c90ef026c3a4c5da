#!/usr/bin/env bash
# Fuzzes every parser of untrusted bytes with libFuzzer and says how much of each parser it saw.
#   scripts/fuzz.sh [SECONDS]                              every target, SECONDS each (default 300)
#   scripts/fuzz.sh --execs N [SECONDS]                    every target until N execs, at most
#                                                          SECONDS each (default 1800); the
#                                                          table then names the targets short of N
#   FUZZ_TARGETS="rtsp_request rtcp" scripts/fuzz.sh 60    a subset (names as in
#                                                          funkhaus_add_fuzz_target)
# Builds only the fuzz targets (cmake target funkhaus_fuzzers, or the subset) with clang twice:
# into build-fuzz/ (FUZZ_BUILD_DIR) for the timed runs, with libFuzzer, ASan+UBSan and
# -fsanitize=fuzzer-no-link in every library (FUNKHAUS_LIBFUZZER), and into build-fuzz-cov/
# (FUZZ_COV_BUILD_DIR, default FUZZ_BUILD_DIR-cov) the same plus clang's source-based coverage
# (FUNKHAUS_FUZZ_COVERAGE), which only replays each final corpus once: the timed runs do not
# pay for the coverage counters. Then runs the targets two at a time (two cores), each on a scratch
# copy of its seed corpus tests/fuzz/corpus/NAME/ in build-fuzz/corpus/NAME/ (where new inputs
# land; the checked-in corpus is never written) with its dictionary tests/fuzz/dict/NAME.dict,
# and prints one row per target: execs, edges (the final cov: of libFuzzer), line coverage of the
# parser's own source files (the fuzz source's "// fuzz-parser:" lines) over the resulting
# corpus and how many of their lines no input ran, and findings (crash/leak/timeout/oom files,
# listed under the table). In build-fuzz/fuzz/NAME/: fuzz.log, coverage.txt (llvm-cov's annotated
# listing of the parser files), uncovered.txt (their unrun lines, "path:line: text", grouped by
# function; scripts/fuzz-coverage.py).
# Exit status: 0 clean, 1 something was found, 2 the set-up failed.
# Holds the machine-wide build lock (scripts/locked.sh) for the build and the runs. Run it
# directly; under scripts/locked.sh it sees that its parent holds the lock and does not take it
# again (a second flock from a child of the holder would wait for ever).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
given=("$@")  # for the re-run under the build lock
execs_goal=
if [[ ${1:-} == --execs ]]; then
  execs_goal=${2:-}
  [[ $execs_goal =~ ^[1-9][0-9]*$ ]] ||
    { echo "fuzz.sh: --execs wants a count, not '$execs_goal'" >&2; exit 2; }
  shift 2
  seconds=${1:-1800}
else
  seconds=${1:-300}
fi
jobs=${FUZZ_JOBS:-2}
unit_timeout=${FUZZ_UNIT_TIMEOUT:-25}  # seconds one input may take before it is a finding
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
cov_build=${FUZZ_COV_BUILD_DIR:-$build-cov}
lock=${FUNKHAUS_BUILD_LOCK:-/var/lock/funkhaus-build.lock}
[[ $seconds =~ ^[0-9]+$ && $# -le 1 ]] || { echo "usage: $0 [--execs N] [SECONDS]" >&2; exit 2; }

die() {
  echo "fuzz.sh: $*" >&2
  exit 2
}

# True when this shell or one of its ancestors holds the build lock (/proc/locks names the
# process that took it: flock(1) of scripts/locked.sh).
lock_held_here() {
  [[ -e $lock ]] || return 1
  local inode holders pid h
  inode=$(stat -c %i "$lock")
  holders=$(awk -v ino="$inode" '$2 == "FLOCK" { split($6, f, ":"); if (f[3] == ino) print $5 }' \
    /proc/locks)
  pid=$$
  while [[ -n $pid && $pid -gt 1 ]]; do
    for h in $holders; do [[ $h == "$pid" ]] && return 0; done
    pid=$(ps -o ppid= -p "$pid" | tr -d ' ')
  done
  return 1
}
if ! lock_held_here; then
  echo "fuzz.sh: waiting for the build lock ($lock)"
  exec "$root/scripts/locked.sh" "$0" "${given[@]}"
fi

"$root/scripts/install-deps.sh"

# --- build (scripts/build.sh's ccache set-up; clang; the fuzz targets only) ---
source "$root/scripts/ccache-env.sh"
export CC=clang CXX=clang++
build_start=$SECONDS
# -g1: line tables are all a sanitizer's stack trace needs, and compile faster than -g. No
# -Werror: warnings are the gcc builds' job (CI); a clang-only one must not stop the fuzzing.
configure() {  # DIR COVERAGE(ON|OFF)
  mkdir -p "$1"
  cmake -S "$root" -B "$1" -G Ninja -DFUNKHAUS_WERROR=OFF "${launcher[@]}" \
    -DFUNKHAUS_LIBFUZZER=ON -DFUNKHAUS_FUZZ_COVERAGE="$2" \
    -DFUNKHAUS_BUILD_BENCH=OFF -DFUNKHAUS_BUILD_CLIENT_TESTS=OFF \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" >"$1/configure.log" ||
    { cat "$1/configure.log"; die "configure of $1 failed"; }
}
configure "$build" OFF
configure "$cov_build" ON

# --- targets and their parsers (checked before the long build) ---
declare -A source_of parsers_of
all=()
while read -r name source; do
  all+=("$name")
  source_of[$name]=$source
done <"$build/fuzz_targets.txt"
((${#all[@]} > 0)) || die "no fuzz targets in $build/fuzz_targets.txt"
if [[ -n ${FUZZ_TARGETS:-} ]]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
  for name in "${targets[@]}"; do
    [[ -n ${source_of[$name]:-} ]] || die "no fuzz target '$name' (known: ${all[*]})"
  done
else
  targets=("${all[@]}")
fi
for name in "${targets[@]}"; do
  src=${source_of[$name]}
  list=$(sed -n 's#^// fuzz-parser:##p' "$src" | tr '\n' ' ')
  [[ -n ${list// /} ]] || die "$name: $src has no '// fuzz-parser: path...' line"
  for f in $list; do
    [[ -f $root/$f ]] || die "$name: $src names $f as its parser, which does not exist"
  done
  parsers_of[$name]=$list
done

build_targets=(funkhaus_fuzzers)
if [[ -n ${FUZZ_TARGETS:-} ]]; then build_targets=("${targets[@]/#/fuzz_}"); fi
for dir in "$build" "$cov_build"; do
  cmake --build "$dir" -j "$(nproc)" --target "${build_targets[@]}" || die "build in $dir failed"
done
build_seconds=$((SECONDS - build_start))

# --- runs ---
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_target() {
  local name=$1
  local bin=$build/bin/fuzz_$name cov_bin=$cov_build/bin/fuzz_$name
  local work=$build/fuzz/$name corpus=$build/corpus/$name
  local seeds=$root/tests/fuzz/corpus/$name dict=$root/tests/fuzz/dict/$name.dict
  rm -rf "$work" "$corpus"
  mkdir -p "$work/findings" "$corpus"
  if [[ -d $seeds ]]; then find "$seeds" -type f -exec cp -t "$corpus" {} +; fi
  local args=(-max_total_time="$seconds" -print_final_stats=1 -timeout="$unit_timeout"
              -close_fd_mask=1 -artifact_prefix="$work/findings/")
  if [[ -f $dict ]]; then args+=(-dict="$dict"); fi
  if [[ -n $execs_goal ]]; then args+=(-runs="$execs_goal"); fi
  local rc=0
  "$bin" "${args[@]}" "$corpus" >"$work/fuzz.log" 2>&1 || rc=$?
  echo "$rc" >"$work/exit"
  # Line coverage over the resulting corpus: every input once (-runs=0) through the coverage
  # build, then llvm-cov.
  LLVM_PROFILE_FILE=$work/corpus.profraw "$cov_bin" -runs=0 -close_fd_mask=1 \
    -artifact_prefix="$work/findings/replay-" "$corpus" >"$work/replay.log" 2>&1 || true
  # lines, coverage.txt (annotated listing) and uncovered.txt of the parser's files.
  local parsers
  read -r -a parsers <<<"${parsers_of[$name]}"
  if llvm-profdata-14 merge -sparse "$work/corpus.profraw" -o "$work/corpus.profdata" \
    2>>"$work/replay.log"; then
    "$root/scripts/fuzz-coverage.py" "$root" "$cov_bin" "$work/corpus.profdata" "$work" \
      "${parsers[@]}" 2>>"$work/replay.log" || true
  fi
  echo "fuzz.sh: $(date -u +%H:%M:%S) $name done (exit $rc)"
}

run_start=$SECONDS
if [[ -n $execs_goal ]]; then
  echo "fuzz.sh: ${#targets[@]} targets, each until $execs_goal execs or ${seconds} s, $jobs at a time"
else
  echo "fuzz.sh: ${#targets[@]} targets, ${seconds} s each, $jobs at a time"
fi
running=0
for name in "${targets[@]}"; do
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
  run_target "$name" &
  running=$((running + 1))
done
wait || true
run_seconds=$((SECONDS - run_start))

# --- the table ---
found=()
short=()
printf '\n%-22s %12s %9s %7s %18s %9s  %s\n' target execs exec/s edges 'parser lines' uncovered \
  findings
for name in "${targets[@]}"; do
  work=$build/fuzz/$name
  log=$work/fuzz.log
  [[ -f $log ]] || : >"$log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  edges=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  lines='?' uncovered='?'
  if [[ -s $work/lines ]]; then
    read -r covered total < <(head -1 "$work/lines")
    lines=$(awk -v c="$covered" -v t="$total" \
      'BEGIN { printf "%d/%d %5.1f%%", c, t, t ? 100 * c / t : 0 }')
    uncovered=$((total - covered))
  fi
  mapfile -t artifacts < <(find "$work/findings" -type f \( -name '*crash-*' -o -name '*leak-*' \
    -o -name '*timeout-*' -o -name '*oom-*' \) 2>/dev/null | sort)
  rc=$(cat "$work/exit" 2>/dev/null || echo none)
  findings=${#artifacts[@]}
  if ((findings == 0)) && [[ $rc != 0 ]]; then
    findings="exit $rc"
    found+=("$name: exited $rc without an artifact, see $log")
  fi
  for a in "${artifacts[@]}"; do found+=("$name: $a (log $log)"); done
  if [[ -n $execs_goal ]] && ((${execs:-0} < execs_goal)); then short+=("$name"); fi
  printf '%-22s %12s %9s %7s %18s %9s  %s\n' "$name" "${execs:-?}" "${rate:-?}" "${edges:-?}" \
    "$lines" "$uncovered" "$findings"
done
echo
if [[ -n $execs_goal ]]; then
  per_target="until $execs_goal execs or ${seconds} s"
  if ((${#short[@]} > 0)); then
    echo "short of $execs_goal execs after ${seconds} s: ${short[*]}"
  else
    echo "every target ran $execs_goal execs"
  fi
else
  per_target="${seconds} s"
fi
echo "build ${build_seconds} s, runs ${run_seconds} s (${#targets[@]} targets, ${per_target} each," \
  "$jobs at a time); logs, coverage listings and uncovered lines in $build/fuzz/NAME/" \
  "(fuzz.log, coverage.txt, uncovered.txt)"
if ((${#found[@]} > 0)); then
  echo "findings:"
  printf '  %s\n' "${found[@]}"
  exit 1
fi
echo "no findings"
