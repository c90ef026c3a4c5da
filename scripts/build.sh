#!/usr/bin/env bash
# Configures and builds funkhaus into a build directory.
#   scripts/build.sh [BUILD_DIR] [extra cmake args...]
# BUILD_DIR defaults to build/. Uses Ninja and a Release-with-debug-info build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${1:-$root/build}
shift || true
launcher=()
if command -v ccache >/dev/null; then
  # Compiles are cached outside the checkout (~/.cache/ccache), keyed on paths relative to it, so a
  # fresh clone or another worktree reuses them.
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
  # Three builds (plain, ASan+UBSan, TSan) of ~1.5 GB each must all stay cached, or every CI run
  # after a header change rebuilds the sanitizer builds cold.
  export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-12G}
  # With -g ccache hashes the build directory too, so a clone elsewhere (CI's) missed every
  # object; the debug info then names the first build's paths, which nothing here depends on.
  export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$root" -B "$build_dir" -G Ninja -DFUNKHAUS_WERROR=ON "${launcher[@]}" "$@"
# Two cores: one compile job per core, and never two builds at once.
cmake --build "$build_dir" -j "$(nproc)"
