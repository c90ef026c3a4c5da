#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs what is missing, builds, and runs the
# streaming host with its embedded defaults (no config file): funkhausd in user mode with the
# virtual display driver, capture, encode (libx264, 1080p60) and net workers. It prints where
# viewers connect, e.g.  ffplay -fflags nobuffer -flags low_delay rtsp://127.0.0.1:8554/live
# Ctrl-C stops it and every worker. Extra arguments go to funkhausd (e.g. --config FILE).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build" >/dev/null
exec "$root/build/bin/funkhausd" --mode user "$@"
