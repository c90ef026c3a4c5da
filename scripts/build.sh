#!/usr/bin/env bash
# Configures and builds funkhaus into a build directory.
#   scripts/build.sh [BUILD_DIR] [extra cmake args...]
# BUILD_DIR defaults to build/. Uses Ninja and a Release-with-debug-info build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${1:-$root/build}
shift || true
source "$root/scripts/ccache-env.sh"
cmake -S "$root" -B "$build_dir" -G Ninja -DFUNKHAUS_WERROR=ON "${launcher[@]}" "$@"
# Two cores: one compile job per core, and never two builds at once.
cmake --build "$build_dir" -j "$(nproc)"
