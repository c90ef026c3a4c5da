#!/usr/bin/env bash
# Builds gamestream_probe, funkhaus's own GameStream test client, and prints the path of the
# binary. The probe links moonlight-common-c (GPL-3.0), so both are built here, in a cache OUTSIDE
# the repository, never into a funkhaus binary: moonlight-common-c from its source archive
# (static, Release), the probe from the sources beside this script plus funkhaus's barcode reader
# and the tests' WAV writer (tests/support/source/audio_analysis.cpp).
# Usage: build.sh [--debug] [CACHE_DIR]   (default: ${XDG_CACHE_HOME:-$HOME/.cache}/funkhaus-test-clients)
#   --debug (or FUNKHAUS_PROBE_DEBUG=1)  a separate Debug variant: moonlight-common-c with LC_DEBUG
#                               (a host protocol violation aborts on an assert) and its FEC
#                               validation mode (it drops one data shard of every FEC block itself
#                               and checks the recovered bytes), in its own cache directories
#   FUNKHAUS_TEST_CLIENTS=DIR   directory holding moonlight-common-c-874ac95.tar.gz (default: the
#                               first shared/third_party above this script)
# Installs missing Debian build dependencies (root or sudo). Idempotent: the cache directories are
# keyed on hashes of the archive and of the probe's sources, so a second call only prints the path
# and a changed source or archive builds again. Build output goes to stderr; stdout is the path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
archive_name=moonlight-common-c-874ac95.tar.gz

if [[ -n ${FUNKHAUS_TEST_CLIENTS:-} ]]; then
  src_tar=$FUNKHAUS_TEST_CLIENTS/$archive_name
else
  src_tar=""
  dir=$here
  while [[ $dir != / ]]; do
    if [[ -f $dir/shared/third_party/$archive_name ]]; then src_tar=$dir/shared/third_party/$archive_name; break; fi
    dir=$(dirname "$dir")
  done
fi
if [[ -z $src_tar || ! -f $src_tar ]]; then
  echo "build.sh: $archive_name not found (${src_tar:-no shared/third_party above $here}; set FUNKHAUS_TEST_CLIENTS=DIR)" >&2
  exit 1
fi
debug=${FUNKHAUS_PROBE_DEBUG:-0}
if [[ ${1:-} == --debug ]]; then debug=1; shift; fi
[[ $debug == 0 ]] && debug=""
cache=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/funkhaus-test-clients}
build_type=Release
variant=""
if [[ -n $debug ]]; then build_type=Debug; variant=-debug; fi

# The probe's inputs: its own sources, the funkhaus sources compiled into it, this script.
probe_sources=("$here"/*.cpp)
project_sources=("$repo/capture-worker/source/barcode.cpp" "$repo/tests/support/source/audio_analysis.cpp")
hashed_files=("$here"/*.cpp "$here"/*.h "$here/build.sh" "${project_sources[@]}"
              "$repo/capture-worker/include/funkhaus/capture/barcode.h"
              "$repo/tests/support/include/funkhaus/test/audio_analysis.h"
              "$repo/common/include/funkhaus/common/result.h"
              "$repo/common/include/funkhaus/common/percentile.h"
              "$repo/shm-abi/include/funkhaus/abi/exit_codes.h")
lib_hash=$(sha256sum "$src_tar" | cut -c1-12)
probe_hash=$( { echo "$lib_hash"; cat "${hashed_files[@]}"; } | sha256sum | cut -c1-12)
lib_dir=$cache/moonlight-common-c-874ac95-$lib_hash$variant
probe_dir=$cache/gamestream-probe-$probe_hash$variant
out=$probe_dir/gamestream_probe
if [[ -x $out ]]; then echo "$out"; exit 0; fi

mkdir -p "$cache"
# One build at a time per cache (tests may call this in parallel).
exec 9>"$cache/.gamestream-probe.lock"
flock 9
if [[ -x $out ]]; then echo "$out"; exit 0; fi

deps=(cmake make gcc g++ pkg-config libssl-dev libcurl4-openssl-dev libavcodec-dev libavutil-dev
      libswscale-dev libfmt-dev libspdlog-dev nlohmann-json3-dev libopus-dev)
missing=()
for p in "${deps[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if (( ${#missing[@]} )); then
  sudo_=""; (( EUID == 0 )) || sudo_=sudo
  $sudo_ apt-get install -y -qq "${missing[@]}" >&2 || { $sudo_ apt-get update -qq >&2 && $sudo_ apt-get install -y -qq "${missing[@]}" >&2; }
fi
jobs=$(nproc)

# moonlight-common-c: static library (+ its ENet), Release (no LC_DEBUG asserts) or Debug.
lib=$lib_dir/build/libmoonlight-common-c.a
enet=$lib_dir/build/enet/libenet.a
if [[ ! -f $lib_dir/.built ]]; then
  rm -rf "$lib_dir"
  mkdir -p "$lib_dir/src"
  tar xzf "$src_tar" -C "$lib_dir/src" --strip-components=1
  cmake -S "$lib_dir/src" -B "$lib_dir/build" -DCMAKE_BUILD_TYPE=$build_type -DBUILD_SHARED_LIBS=OFF \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON >&2
  cmake --build "$lib_dir/build" --target moonlight-common-c enet -j"$jobs" >&2
  [[ -f $lib && -f $enet ]] || { echo "build.sh: moonlight-common-c built no $lib / $enet" >&2; exit 1; }
  touch "$lib_dir/.built"
fi

# The probe: each source compiled in parallel, then linked.
rm -rf "$probe_dir.tmp"
mkdir -p "$probe_dir.tmp"
cxx=${CXX:-c++}
pkgs="libavcodec libavutil libswscale libcurl libcrypto fmt spdlog opus"
cflags=(-std=c++20 -O2 -g -Wall -Wextra -Werror -pthread
        -I"$here" -I"$lib_dir/src/src"
        -I"$repo/capture-worker/include" -I"$repo/common/include" -I"$repo/shm-abi/include"
        -I"$repo/tests/support/include"
        $(pkg-config --cflags $pkgs))
objs=()
pids=()
for s in "${probe_sources[@]}" "${project_sources[@]}"; do
  o=$probe_dir.tmp/$(basename "${s%.cpp}").o
  objs+=("$o")
  "$cxx" "${cflags[@]}" -c "$s" -o "$o" >&2 &
  pids+=($!)
  if (( ${#pids[@]} >= jobs )); then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done
"$cxx" -pthread -o "$probe_dir.tmp/gamestream_probe" "${objs[@]}" "$lib" "$enet" \
  $(pkg-config --libs $pkgs) >&2
rm -f "${objs[@]}"
rm -rf "$probe_dir"
mv "$probe_dir.tmp" "$probe_dir"
echo "$out"
