#!/usr/bin/env bash
# The media libraries of the Windows build (issue 17): Debian has no mingw build of x264, FFmpeg
# or libyuv, so this cross-builds them from Debian's own source packages with mingw-w64 (posix
# threads), static, into a cache outside the clone:
#   x264    static libx264, 8-bit, no CLI
#   ffmpeg  a minimal libavcodec (libx264 encoder, h264 decoder and parser) + libswscale + libavutil
#   libyuv  static libyuv (common/media/colour.cpp's YUV layout changes)
# Prints the install prefix (pkg-config files in <prefix>/lib/pkgconfig) on stdout, everything
# else on stderr:
#   prefix=$(scripts/windows-deps.sh)
# The cache is $FUNKHAUS_WINDOWS_DEPS_CACHE (default /var/cache/funkhaus-windows-deps as root,
# ~/.cache/funkhaus/windows-deps otherwise)/<key>/,
# where <key> names the three source versions and this script's build settings; a complete entry
# makes the script a no-op (well under a second). Source comes from a deb-src entry for the same
# archives the machine's apt sources already use (derived from /etc/apt/sources.list* here, added
# only when missing). No third-party source ever lands in the clone. Run it under the build lock
# (scripts/test-windows.sh does: scripts/locked.sh scripts/windows-deps.sh).
set -euo pipefail

triple=x86_64-w64-mingw32
# Bump when a configure line below changes: it is part of the cache key.
settings=1
# Root keeps it beside the other system caches; anyone else in their own cache directory.
if ((EUID == 0)); then default_cache=/var/cache/funkhaus-windows-deps
else default_cache=${XDG_CACHE_HOME:-$HOME/.cache}/funkhaus/windows-deps; fi
cache_root=${FUNKHAUS_WINDOWS_DEPS_CACHE:-$default_cache}
as_root() { if ((EUID == 0)); then "$@"; else sudo "$@"; fi; }
root=$(cd "$(dirname "$0")/.." && pwd)
log() { echo "windows-deps: $*" >&2; }

# Source package and version of the candidates of the binary packages (from the binary index, in
# one apt-cache call: no deb-src index is needed to compute the key).
script_start=$(date +%s%N)
mapfile -t sources < <(apt-cache show --no-all-versions libx264-dev libavcodec-dev libyuv-dev 2>/dev/null |
  awk 'function out() { if (pkg != "") { if (src == "") src = pkg; if (sv == "") sv = ver; print pkg, src "=" sv }
                        pkg = ""; ver = ""; src = ""; sv = "" }
       /^Package:/ { out(); pkg = $2 } /^Version:/ { ver = $2 }
       /^Source:/ { src = $2; if ($3 ~ /^\(/) { sv = $3; gsub(/[()]/, "", sv) } }
       END { out() }')
source_of() {
  local line
  for line in "${sources[@]}"; do [[ $line == "$1 "* ]] && { echo "${line#* }"; return; }; done
  log "no candidate for $1 in the apt index (apt-get update?)"
  exit 1
}
x264_src=$(source_of libx264-dev)
ffmpeg_src=$(source_of libavcodec-dev)
yuv_src=$(source_of libyuv-dev)
# A readable key, x264=2_0.164..._ffmpeg=7_5.1.9..._libyuv=..._settings=1 (epoch colons and
# anything else unusual in a path made '_').
key=$(printf '%s\n' "$x264_src" "$ffmpeg_src" "$yuv_src" "settings=$settings" |
  sed 's/[^A-Za-z0-9.=+~-]/_/g' | tr '\n' '_' | sed 's/_$//')
dir=$cache_root/$key
prefix=$dir/prefix
if [[ -f $dir/complete ]]; then
  log "cached ($(( ($(date +%s%N) - script_start) / 1000000 )) ms): $prefix"
  echo "$prefix"
  exit 0
fi

total_start=$SECONDS
step_start=$SECONDS
step() { log "$1: $((SECONDS - step_start)) s"; step_start=$SECONDS; }

# A half-built entry (interrupted run) is started over: the prefix path is baked into the .pc
# files, so the entry is built in place and marked complete last.
rm -rf "$dir"
mkdir -p "$dir/src" "$prefix"
log "building into $dir (about 2 min on 2 cores)"

"$root/scripts/install-deps.sh" --windows >&2

# The three source versions known to apt already? (A deb-src entry for only some of the
# archives, e.g. without the security one that ffmpeg's version may come from, is not enough.)
have_sources() {
  local s
  for s in "$x264_src" "$ffmpeg_src" "$yuv_src"; do
    # grep reads to the end (no -q): an early exit would fail the pipe (pipefail) on a match.
    apt-cache showsrc --only-source "${s%%=*}" 2>/dev/null | grep -x "Version: ${s#*=}" >/dev/null || return 1
  done
}
# If not: deb-src for the archives of every enabled deb entry, the same URIs, suites, components
# and keys (written once; a later run with stale indexes only updates them).
out=/etc/apt/sources.list.d/funkhaus-deb-src.sources
if ! have_sources && [[ -e $out ]]; then
  as_root apt-get update -qq >&2
  step "apt-get update (deb-src entry there)"
elif ! have_sources; then
  {
    echo "# Added by funkhaus scripts/windows-deps.sh: the source packages of the archives above."
    for f in /etc/apt/sources.list.d/*.sources; do
      [[ -e $f ]] || continue
      # Each stanza with Types: deb, again with Types: deb-src (Enabled: no stanzas are skipped).
      awk 'function flush() { if (types ~ /(^| )deb( |$)/ && !off) { print "Types: deb-src"; printf "%s", body; print "" }
                              types = ""; body = ""; off = 0 }
           /^[[:space:]]*$/ { flush(); next }
           /^#/ { next }
           /^Types:/ { sub(/^Types:[[:space:]]*/, ""); types = $0; next }
           /^Enabled:[[:space:]]*[Nn]o/ { off = 1 }
           { body = body $0 "\n" }
           END { flush() }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [[ -e $f ]] || continue
      # One-line entries: deb [opts] URI SUITE COMPONENTS -> the same stanza for deb-src.
      awk '$1 == "deb" { opts = ""; i = 2
             if ($2 ~ /^\[/) { while ($i !~ /\]$/) { opts = opts " " $i; i++ } opts = opts " " $i; i++ }
             comps = ""; for (j = i + 2; j <= NF; j++) comps = comps " " $j
             print "Types: deb-src"; print "URIs: " $i; print "Suites: " $(i + 1)
             print "Components:" comps
             if (opts ~ /signed-by=/) { s = opts; sub(/.*signed-by=/, "", s); sub(/[] ].*/, "", s); print "Signed-By: " s }
             print "" }' "$f"
    done
  } | as_root tee "$out" >/dev/null
  log "added $out:"
  sed 's/^/  /' "$out" >&2
  as_root apt-get update -qq >&2
  step "deb-src entry and apt-get update"
fi

cd "$dir/src"
# apt downloads as _apt where it can (root otherwise, with a warning).
if ((EUID == 0)) && id _apt >/dev/null 2>&1; then chown _apt "$dir/src"; fi
apt-get source -qq "$x264_src" "$ffmpeg_src" "$yuv_src" >&2
step "apt-get source x264 ffmpeg libyuv"
x264_dir=$(find . -maxdepth 1 -type d -name 'x264-*' | head -1)
ffmpeg_dir=$(find . -maxdepth 1 -type d -name 'ffmpeg-*' | head -1)
yuv_dir=$(find . -maxdepth 1 -type d -name 'libyuv-*' | head -1)
jobs=$(nproc)

export PKG_CONFIG_LIBDIR=$prefix/lib/pkgconfig PKG_CONFIG_PATH=

# x264: static, 8-bit only (what libx264 is asked for here), win32 threads inside x264.
(
  cd "$x264_dir"
  CC=$triple-gcc-posix ./configure --host=$triple --cross-prefix=$triple- --prefix="$prefix" \
    --enable-static --disable-cli --bit-depth=8 --disable-opencl --disable-lavf --disable-swscale \
    --disable-ffms --disable-gpac --disable-lsmash >"$dir/x264-configure.log" 2>&1
  make -j"$jobs" >"$dir/x264-build.log" 2>&1
  make install >>"$dir/x264-build.log" 2>&1
) || { log "x264 failed: see $dir/x264-*.log"; exit 1; }
step "x264 (static, mingw)"

# FFmpeg: only what the encode worker and its tests use. --disable-autodetect keeps the build
# from picking up anything of the host; threads are Win32's.
(
  cd "$ffmpeg_dir"
  ./configure --prefix="$prefix" --enable-cross-compile --arch=x86_64 --target-os=mingw32 \
    --cross-prefix=$triple- --cc=$triple-gcc-posix --cxx=$triple-g++-posix \
    --pkg-config=pkg-config --pkg-config-flags=--static \
    --enable-static --disable-shared --enable-gpl --disable-autodetect --enable-w32threads \
    --disable-programs --disable-doc --disable-network --disable-debug \
    --disable-avdevice --disable-avformat --disable-avfilter --disable-swresample \
    --disable-postproc --disable-everything --enable-libx264 --enable-encoder=libx264 \
    --enable-decoder=h264 --enable-parser=h264 --enable-swscale >"$dir/ffmpeg-configure.log" 2>&1
  make -j"$jobs" >"$dir/ffmpeg-build.log" 2>&1
  make install >>"$dir/ffmpeg-build.log" 2>&1
) || { log "ffmpeg failed: see $dir/ffmpeg-*.log"; exit 1; }
step "ffmpeg (libavcodec, libswscale, libavutil; static, mingw)"

# libyuv: its CMake project with our toolchain file, the static library only, and a .pc file.
(
  cmake -S "$yuv_dir" -B "$dir/libyuv-build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/mingw-w64.cmake" >"$dir/libyuv-build.log" 2>&1
  cmake --build "$dir/libyuv-build" -j"$jobs" --target yuv >>"$dir/libyuv-build.log" 2>&1
  cp "$dir/libyuv-build/libyuv.a" "$prefix/lib/"
  cp -r "$yuv_dir/include/." "$prefix/include/"
  cat >"$prefix/lib/pkgconfig/libyuv.pc" <<EOF
prefix=$prefix
Name: libyuv
Description: libyuv (Debian ${yuv_src#*=}, cross-built by funkhaus scripts/windows-deps.sh)
Version: ${yuv_src#*=}
Cflags: -I\${prefix}/include
Libs: -L\${prefix}/lib -lyuv
EOF
) || { log "libyuv failed: see $dir/libyuv-build.log"; exit 1; }
step "libyuv (static, mingw)"

# The sources and object files are not needed any more: only the prefix and the logs stay.
rm -rf "$dir/src" "$dir/libyuv-build"
touch "$dir/complete"
log "complete in $((SECONDS - total_start)) s: $prefix"
echo "$prefix"
