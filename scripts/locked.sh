#!/usr/bin/env bash
# Runs a command while holding the machine-wide build lock: two cores, so builds (and the test
# runs that measure time) never overlap, whichever checkout or worktree they come from.
#   scripts/locked.sh cmake --build build
exec flock "${FUNKHAUS_BUILD_LOCK:-/var/lock/funkhaus-build.lock}" "$@"
