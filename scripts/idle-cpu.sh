#!/usr/bin/env bash
# Idle-desktop CPU of the pipeline (issue 15): funkhausd in user mode with the virtual monitor
# at 1080p60 and nothing drawing on it, vdisplay -> capture -> encode (libx264) -> net, no
# viewer. Samples utime+stime of each worker from /proc/<pid>/stat over SECONDS and prints the
# CPU of each in % of one core, then capture + encode + net together. Figures only, no verdict.
# Usage: scripts/idle-cpu.sh [BIN_DIR (default build/bin)] [SECONDS (default 20)]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/bin}
seconds=${2:-20}
work=$(mktemp -d /tmp/funkhaus-idle-cpu.XXXXXX)
daemon=
cleanup() {
  if [[ -n $daemon ]] && kill -0 "$daemon" 2>/dev/null; then
    kill -TERM "$daemon"
    for _ in $(seq 50); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$daemon" 2>/dev/null && kill -KILL "$daemon"
  fi
  [[ -n ${KEEP:-} ]] && cp "$work/log" /tmp/idle-cpu-last.log
  rm -rf "$work"
}
trap cleanup EXIT
cat >"$work/funkhaus.toml" <<TOML
[capture]
source = "vdisplay"
[net]
bind = "127.0.0.1"
port = 0
[gamestream]
enabled = false
[audio]
enabled = false
[vdisplay]
width = 1920
height = 1080
refresh_hz = 60
[workers]
start = ["vdisplay", "capture", "encode", "net"]
[control]
socket = "$work/control.sock"
TOML
mkdir -p "$work/runtime" "$work/state"
XDG_RUNTIME_DIR=$work/runtime XDG_STATE_HOME=$work/state \
  "$bin/funkhausd" --mode user --config "$work/funkhaus.toml" >"$work/log" 2>&1 &
daemon=$!

# The workers are funkhausd's children, found by their executable's name.
pid_of() {
  for c in $(cat /proc/"$daemon"/task/*/children 2>/dev/null); do
    [[ $(readlink /proc/"$c"/exe 2>/dev/null) == */"$1" ]] && { echo "$c"; return; }
  done
}
names=(funkhaus-vdisplay funkhaus-capture funkhaus-encode funkhaus-net)
for _ in $(seq 100); do
  ok=1
  for n in "${names[@]}"; do [[ -n $(pid_of "$n") ]] || ok=0; done
  ((ok)) && break
  sleep 0.1
done
((ok)) || { echo "workers did not start; funkhausd log:" >&2; tail -20 "$work/log" >&2; exit 1; }
sleep 5  # first frames, encoder open, IDR

ticks() { awk '{print $14 + $15}' /proc/"$1"/stat; }
declare -A pid t0
for n in "${names[@]}"; do pid[$n]=$(pid_of "$n"); t0[$n]=$(ticks "${pid[$n]}"); done
start=$(date +%s.%N)
sleep "$seconds"
end=$(date +%s.%N)
hz=$(getconf CLK_TCK)
total=0
for n in "${names[@]}"; do
  [[ $(pid_of "$n") == "${pid[$n]}" ]] || { echo "$n restarted during the run" >&2; exit 1; }
  d=$(($(ticks "${pid[$n]}") - t0[$n]))
  pct=$(awk -v d="$d" -v hz="$hz" -v s="$start" -v e="$end" 'BEGIN{printf "%.2f", 100*d/hz/(e-s)}')
  printf '[figures] idle 1920x1080@60 %-17s cpu %6s %% of one core\n' "$n" "$pct"
  [[ $n == funkhaus-vdisplay ]] || total=$(awk -v a="$total" -v b="$pct" 'BEGIN{printf "%.2f", a+b}')
done
printf '[figures] idle 1920x1080@60 capture+encode+net cpu %s %% of one core over %s s\n' \
  "$total" "$seconds"
