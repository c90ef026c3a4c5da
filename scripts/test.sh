#!/usr/bin/env bash
# The test command on a fresh Debian 12 machine: installs what is missing, builds, and runs
# every test (ctest labels unit, multiprocess, client and system; fuzz smoke runs are in unit).
# Tests that need root or a real systemd say why they skip when they cannot run.
#   scripts/test.sh                 normal build in build/
#   scripts/test.sh --sanitize      ASan+UBSan build in build-asan/ (unit + multiprocess)
#   scripts/test.sh --tsan          TSan build in build-tsan/ (unit + multiprocess)
#   scripts/test.sh --coverage      gcov build in build-coverage/, every test, then line and branch
#                                   coverage of product code per folder (scripts/coverage-report.py)
#   scripts/test.sh --windows       mingw-w64 build in build-windows/, tests under Wine
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ ${1:-} == --windows ]]; then exec "$root/scripts/test-windows.sh"; fi
"$root/scripts/install-deps.sh"

mode=${1:-}
# The sanitizer builds run the unit and multiprocess tests only: no benchmarks, no client or
# system test programs, and -O1 with line tables only (-g1), which is what their reports need and
# compiles in about half the time of -O2 -g.
sanitizer_build=(-DFUNKHAUS_BUILD_BENCH=OFF -DFUNKHAUS_BUILD_CLIENT_TESTS=OFF
                 "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG")
labels='unit|multiprocess|client|system'
case "$mode" in
  "")
    build_dir=$root/build
    cmake_args=()
    ;;
  --sanitize)
    build_dir=$root/build-asan
    cmake_args=(-DFUNKHAUS_ENABLE_ASAN=ON -DFUNKHAUS_ENABLE_UBSAN=ON "${sanitizer_build[@]}")
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    labels='unit|multiprocess'  # the client and system tests run in the plain build
    ;;
  --tsan)
    build_dir=$root/build-tsan
    cmake_args=(-DFUNKHAUS_ENABLE_TSAN=ON "${sanitizer_build[@]}")
    export TSAN_OPTIONS=halt_on_error=1
    labels='unit|multiprocess'
    ;;
  --coverage)
    # -O1 without debug info: gcov needs neither, and it compiles faster than -O2 -g. Warnings are
    # the plain build's to enforce; flow-analysis warnings of an instrumented -O1 build must not
    # stop a measurement. The benchmarks are not tests.
    build_dir=$root/build-coverage
    cmake_args=(-DFUNKHAUS_ENABLE_COVERAGE=ON -DFUNKHAUS_BUILD_BENCH=OFF -DFUNKHAUS_WERROR=OFF
                "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -DNDEBUG")
    ;;
  *)
    echo "usage: $0 [--sanitize|--tsan|--coverage|--windows]" >&2
    exit 64
    ;;
esac

"$root/scripts/build.sh" "$build_dir" "${cmake_args[@]}"
cd "$build_dir"
if [[ $mode == --coverage ]]; then
  # Counts of this run only. The report is printed even when tests failed (instrumented code is
  # slower, which a test with a deadline may notice); the failed tests are listed after it and
  # the exit status is then ctest's, else the report's.
  built=$SECONDS
  find "$build_dir" -name '*.gcda' -delete
  status=0
  ctest -L "$labels" --output-on-failure --timeout 900 || status=$?
  tested=$SECONDS
  report=0
  "$root/scripts/coverage-report.py" "$build_dir" || report=$?
  echo "coverage: build $((built / 60)) min $((built % 60)) s, tests $(((tested - built) / 60)) min" \
       "$(((tested - built) % 60)) s, report $((SECONDS - tested)) s"
  if ((status != 0)); then
    echo "coverage: tests FAILED under coverage (ctest exit $status):"
    sed 's/^/  /' Testing/Temporary/LastTestsFailed.log 2>/dev/null || true
    exit "$status"
  fi
  exit "$report"
fi
ctest -L "$labels" --output-on-failure --timeout 900
