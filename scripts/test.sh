#!/usr/bin/env bash
# The test command on a fresh Debian 12 machine: installs what is missing, builds, and runs
# every test (ctest labels unit, multiprocess, client and system; fuzz smoke runs are in unit).
# Tests that need root or a real systemd say why they skip when they cannot run.
#   scripts/test.sh                 normal build in build/
#   scripts/test.sh --sanitize      ASan+UBSan build in build-asan/ (unit + multiprocess)
#   scripts/test.sh --tsan          TSan build in build-tsan/ (unit + multiprocess)
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
  *)
    echo "usage: $0 [--sanitize|--tsan|--windows]" >&2
    exit 64
    ;;
esac

"$root/scripts/build.sh" "$build_dir" "${cmake_args[@]}"
cd "$build_dir"
ctest -L "$labels" --output-on-failure --timeout 900
