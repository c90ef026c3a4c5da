#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs what is missing, builds, and runs
# funkhaus with its embedded defaults. Today that is the ring demo (a producer and a consumer
# process exchanging 1080p frames through a shared-memory frame ring, printing rate and
# latency); it becomes funkhausd as the supervisor lands. Extra arguments go to the demo
# (e.g. --seconds 10, --busy-poll, --width 3840 --height 2160).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build" >/dev/null
exec "$root/build/bin/funkhaus-ring-demo" "$@"
