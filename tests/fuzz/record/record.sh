#!/usr/bin/env bash
# Records the fuzz seed corpora's raw material from real clients against a real funkhausd on
# loopback (test tooling; see tests/fuzz/corpus/MANIFEST.md):
#   - RTSP: ffmpeg and GStreamer (UDP and TCP interleaved, a ?mode= URL), ffmpeg on an HEVC
#     stream, and both signing in with Digest (against record_proxy.py's challenge stub)
#   - GameStream: Moonlight Embedded (pair, list, stream) and gamestream_probe (moonlight-common-c;
#     H.264 and HEVC streams, one losing video and one from a virtual monitor, with input)
#   - the web console's own pages in headless Chromium (record_console.py)
#   - funkhausctl on the control socket
#   - funkhausd and its workers under strace (sendmsg: channel messages and vdisplay datagrams)
#   - the shared memory funkhausd hands its workers (rings, net state page), read through /proc
# All of it goes through record_proxy.py (clients talk to 127.0.0.2, funkhausd listens on
# 127.0.0.1), which writes what each side sent. Then make_corpus.py cuts the captures into
# per-target seed files. About 75 s; the seeds hold this run's random values (nonces, keys, ids),
# so a new run rewrites most files.
#
# Usage: record.sh [--bin DIR] [--capture DIR] [--corpus DIR] [--keep]
#   --bin DIR      funkhausd, workers, funkhausctl and fuzz_* (default: build/bin of this repo)
#   --capture DIR  where the raw captures go (default: a new temporary directory)
#   --corpus DIR   where make_corpus.py writes NAME/ seed folders (default: tests/fuzz/corpus)
#   --keep         keep the capture directory
# Needs: python3 (cryptography), ffmpeg, gst-launch-1.0 (rtspsrc), strace, openssl, Xvfb; for the
# console chromium, chromium-driver and Debian's python3-selenium; the GameStream clients are
# built by ../shared/tools/build-moonlight-embedded.sh and tests/client/gamestream_probe/build.sh.
# A missing tool skips its part with a message (its targets keep their other seeds).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
bin=$repo/build/bin
capture=""
corpus=$repo/tests/fuzz/corpus
keep=0
while (($#)); do
  case $1 in
    --bin) bin=$(cd "$2" && pwd); shift 2 ;;
    --capture) capture=$2; shift 2 ;;
    --corpus) corpus=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "record.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x $bin/funkhausd ]] || { echo "record.sh: no funkhausd in $bin" >&2; exit 1; }
if [[ -z $capture ]]; then capture=$(mktemp -d /tmp/funkhaus-record.XXXXXX); made_capture=1; else mkdir -p "$capture"; fi
work=$(mktemp -d /tmp/funkhaus-record-work.XXXXXX)
pids=()
cleanup() {
  [[ -n ${funkhausd_pid:-} ]] && stop_funkhausd
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
  ((keep)) || [[ -z ${made_capture:-} ]] || rm -rf "$capture"
}
trap cleanup EXIT
log() { echo "record.sh: $*" >&2; }

# Free ports on loopback for both addresses: RTSP, RTP/RTCP pair, GameStream base and its family.
read -r rtsp_port rtp_port base_port < <(python3 - <<'EOF'
import socket
def free(port, kinds=(socket.SOCK_STREAM, socket.SOCK_DGRAM)):
    for addr in ("127.0.0.1", "127.0.0.2"):
        for k in kinds:
            s = socket.socket(socket.AF_INET, k)
            try:
                s.bind((addr, port))
            except OSError:
                return False
            finally:
                s.close()
    return True
def pick(offsets, step=1, start=20000):
    for p in range(start, 60000, step):
        if all(free(p + o) for o in offsets):
            return p
rtsp = pick([0])
rtp = pick([0, 1], 2, 30000)
base = pick([0, -5, 9, 10, 11, 21], 1, 40000)
print(rtsp, rtp, base)
EOF
)
echo "{\"rtsp\": $rtsp_port, \"rtp\": $rtp_port, \"base\": $base_port}" > "$capture/ports.json"
log "ports: RTSP $rtsp_port, RTP $rtp_port-$((rtp_port + 1)), GameStream base $base_port"

mkdir -p "$work/bin" "$work/state" "$work/client"
for w in vdisplay capture encode net input audio web console; do
  [[ -x $bin/funkhaus-$w ]] && ln -s "$bin/funkhaus-$w" "$work/bin/funkhaus-$w"
done

# write_config WORKERS PICTURE: the session's workers (a TOML array) and its [rings]/[capture]
# (and [vdisplay]) tables.
streaming_picture='[rings]
max_width = 320
max_height = 180
[capture]
source = "synthetic"
width = 320
height = 180
fps = 30'
write_config() {
  cat > "$work/funkhaus.toml" <<EOF
[control]
socket = "$work/control.sock"
[workers]
start = $1
heartbeat_timeout_ms = 1000
[net]
bind = "127.0.0.1"
port = $rtsp_port
rtp_port = $rtp_port
[gamestream]
base_port = $base_port
listen_address = "127.0.0.1"
name = "funkhaus-record"
mdns = false
[console]
enabled = $([[ -x $bin/funkhaus-console ]] && echo true || echo false)
port = 0
$2
EOF
}

funkhausd_pid=""
start_funkhausd() {  # start_funkhausd TAG [WORKER]: until WORKER (default net) runs
  local tag=$1 worker=${2:-net}
  local tracer=()
  if command -v strace > /dev/null; then
    mkdir -p "$capture/strace-$tag"
    tracer=(strace -ff --seccomp-bpf -qq -e trace=sendmsg -xx -s 8192 -o "$capture/strace-$tag/pid")
  fi
  XDG_STATE_HOME=$work/state "${tracer[@]}" "$bin/funkhausd" --mode user --config "$work/funkhaus.toml" \
    --worker-dir "$work/bin" > "$capture/funkhausd-$tag.log" 2>&1 &
  funkhausd_pid=$!
  pids+=("$funkhausd_pid")
  for _ in $(seq 100); do
    if "$bin/funkhausctl" --socket "$work/control.sock" status 2>/dev/null | grep -q "$worker.*running"; then
      sleep 1
      return 0
    fi
    sleep 0.2
  done
  log "funkhausd did not get its $worker worker running"; tail -5 "$capture/funkhausd-$tag.log" >&2
  stop_funkhausd
  return 1
}
daemon_pid() {  # funkhausd itself: strace's child, when it runs under strace
  if command -v strace > /dev/null; then
    ps -o pid= --ppid "$funkhausd_pid" | head -1 | tr -d ' '
  else
    echo "$funkhausd_pid"
  fi
}
stop_funkhausd() {
  [[ -n $funkhausd_pid ]] || return 0
  local daemon
  daemon=$(daemon_pid)
  [[ -n $daemon ]] && kill -TERM "$daemon" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$funkhausd_pid" 2>/dev/null || break; sleep 0.1; done
  kill -TERM "$funkhausd_pid" 2>/dev/null || true
  wait "$funkhausd_pid" 2>/dev/null || true
  funkhausd_pid=""
}

proxy_pid=""
start_proxy() {  # start_proxy NAME: a capture sub-directory per client session
  local dir=$capture/$1
  rm -f "$work/proxy.ready"
  python3 "$here/record_proxy.py" --listen 127.0.0.2 --target 127.0.0.1 --capture "$dir" \
    --tcp "$rtsp_port" --udp "$rtp_port" --udp $((rtp_port + 1)) \
    --tcp "$base_port" --tls $((base_port - 5)) --tcp $((base_port + 21)) \
    --udp $((base_port + 9)) --udp $((base_port + 10)) --udp $((base_port + 11)) \
    --unix "$work/proxy.sock=$work/control.sock" \
    --client-cert "$work/client/keys/client.pem" --client-key "$work/client/keys/key.pem" \
    --ready "$work/proxy.ready" 2>> "$capture/proxy.log" &
  proxy_pid=$!
  pids+=("$proxy_pid")
  for _ in $(seq 50); do [[ -e $work/proxy.ready ]] && return 0; sleep 0.1; done
  log "record_proxy did not start"; return 1
}
stop_proxy() {
  kill -TERM "$proxy_pid" 2>/dev/null || true
  wait "$proxy_pid" 2>/dev/null || true
}
ctl() { "$bin/funkhausctl" --socket "$work/proxy.sock" "$@" 2>&1 || true; }

# The shared memory funkhausd hands its workers, as they are while a viewer watches.
snapshot_memfds() {  # snapshot_memfds TAG
  local out=$capture/memfd-$1
  mkdir -p "$out"
  local daemon
  daemon=$(daemon_pid)
  for fd in /proc/"$daemon"/fd/*; do
    local target
    target=$(readlink "$fd" 2>/dev/null) || continue
    [[ $target == /memfd:* ]] || continue
    local size
    size=$(stat -L -c %s "$fd" 2>/dev/null) || continue
    ((size > 0 && size <= 4194304)) || continue
    cat "$fd" > "$out/$(basename "$fd")-$(echo "$target" | tr -c 'A-Za-z0-9_.-' _).bin" 2>/dev/null || true
  done
}

rtsp_url=rtsp://127.0.0.2:$rtsp_port/live
write_config '["capture", "encode", "net"]' "$streaming_picture"
cp "$work/funkhaus.toml" "$capture/funkhaus-main.toml"
start_funkhausd main

# funkhausctl: what the CLI writes on the control socket.
start_proxy ctl
for args in "status" "stats start" "stats list" "stats stop" "logs --seconds 60" "clients" \
            "pair" "restart encode" "mode 320x180@30"; do
  # shellcheck disable=SC2086
  ctl $args > /dev/null
done
sleep 2
stop_proxy

# RTSP: ffmpeg and GStreamer, UDP and TCP interleaved (3 s each, then TEARDOWN).
for transport in tcp udp; do
  start_proxy "ffmpeg-$transport"
  timeout 15 ffmpeg -nostdin -hide_banner -loglevel error -rtsp_transport "$transport" \
    -i "$rtsp_url" -t 3 -an -c:v copy -f h264 "$capture/ffmpeg-$transport/stream.h264" &
  viewer=$!
  if [[ $transport == tcp ]]; then sleep 2; snapshot_memfds rtsp; fi
  wait "$viewer" || log "ffmpeg/$transport: exit $?"
  stop_proxy
  if command -v gst-launch-1.0 > /dev/null; then
    start_proxy "gstreamer-$transport"
    timeout -s INT 4 gst-launch-1.0 -q -e rtspsrc location="$rtsp_url" latency=0 \
      protocols="$transport" ! rtph264depay request-keyframe=true ! fakesink > /dev/null 2>&1 || true
    stop_proxy
  fi
done
# A mode request in the URL (uriModeRequest).
start_proxy ffmpeg-mode
timeout 15 ffmpeg -nostdin -hide_banner -loglevel error -rtsp_transport tcp \
  -i "$rtsp_url?mode=320x180@30" -t 1 -an -f null - || log "ffmpeg/mode: exit $?"
stop_proxy

# GameStream: Moonlight Embedded pairs (PIN through funkhausctl), lists, streams; the probe
# streams with input.
moonlight=$(/work/shared/tools/build-moonlight-embedded.sh 2>/dev/null || \
            "$repo/../shared/tools/build-moonlight-embedded.sh" 2>/dev/null || true)
if [[ -x $moonlight ]]; then
  start_proxy moonlight-pair
  (cd "$work/client" && timeout 60 "$moonlight" pair -keydir "$work/client/keys" -port "$base_port" \
     -pin 1234 127.0.0.2 > "$capture/moonlight-pair.log" 2>&1) &
  pair_pid=$!
  for _ in $(seq 100); do
    ctl pair | grep -q "waiting for the PIN" && break
    sleep 0.3
  done
  ctl pair 1234 > /dev/null
  wait "$pair_pid" || log "moonlight pair: exit $?"
  (cd "$work/client" && timeout 30 "$moonlight" list -keydir "$work/client/keys" -port "$base_port" \
     127.0.0.2 > "$capture/moonlight-list.log" 2>&1) || log "moonlight list: exit $?"
  stop_proxy
  echo "" > "$work/client/gamecontrollerdb.txt"
  start_proxy moonlight-stream
  (cd "$work/client" && timeout -s INT 6 "$moonlight" stream -keydir "$work/client/keys" \
     -port "$base_port" -app Desktop -platform fake -mapping "$work/client/gamecontrollerdb.txt" \
     -width 640 -height 360 -fps 30 -bitrate 2000 127.0.0.2 > "$capture/moonlight-stream.log" 2>&1) || true
  (cd "$work/client" && timeout 30 "$moonlight" quit -keydir "$work/client/keys" -port "$base_port" \
     127.0.0.2 >> "$capture/moonlight-stream.log" 2>&1) || true
  stop_proxy
else
  log "Moonlight Embedded could not be built: no pairing or Moonlight Embedded stream recorded"
fi

probe=$("$repo/tests/client/gamestream_probe/build.sh" 2>/dev/null || true)
if [[ -x $probe && -f $work/client/keys/client.pem ]]; then
  cat > "$work/input.txt" <<'EOF'
key 0x41 down
key 0x41 up
key 0xA0 down shift
key 0x42 down shift
key 0x42 up shift
key 0xA0 up
text héllo €
text-packet ok
move 10 -5
position 100 50 320 180
button 1 down
button 1 up
button 3 down
button 3 up
scroll 120
scroll -240
hscroll 120
key 0x0D down ctrl+alt nonnormalized
key 0x0D up ctrl+alt nonnormalized
EOF
  for codec in h264 hevc; do
    start_proxy "probe-$codec"
    extra=()
    [[ $codec == hevc ]] && extra=(--audio-channels 6 --packet-size 1024)
    timeout 40 "$probe" --host 127.0.0.2 --http-port "$base_port" --keydir "$work/client/keys" \
      --width 320 --height 180 --fps 30 --bitrate 2000 --codec "$codec" --seconds 3 \
      --input-script "$work/input.txt" --quit "${extra[@]}" > "$capture/probe-$codec.log" 2>&1 &
    viewer=$!
    if [[ $codec == h264 ]]; then sleep 3; snapshot_memfds gamestream; fi
    wait "$viewer" || log "probe/$codec: exit $? (see $capture/probe-$codec.log)"
    stop_proxy
  done
  # Lost video: the probe's own lossy forwarder (127.0.0.3) drops 15 % of the host's video in
  # front of the recording proxy, so the client asks for recovery (reference frame invalidation,
  # IDR, FEC status) on the control stream.
  start_proxy probe-loss
  timeout 40 "$probe" --host 127.0.0.2 --http-port "$base_port" --keydir "$work/client/keys" \
    --width 320 --height 180 --fps 30 --bitrate 2000 --seconds 3 --proxy-address 127.0.0.3 \
    --drop-video-percent 15 --quit > "$capture/probe-loss.log" 2>&1 || \
    log "probe/loss: exit $? (see $capture/probe-loss.log)"
  stop_proxy
else
  log "gamestream_probe could not be built or nothing is paired: no probe session recorded"
fi
stop_funkhausd

# HEVC: the same picture through libx265, received by ffmpeg over RTSP (TCP).
write_config '["capture", "encode", "net"]' "$streaming_picture
[encode]
encoder = \"libx265\""
if start_funkhausd hevc; then
  start_proxy ffmpeg-hevc
  timeout 15 ffmpeg -nostdin -hide_banner -loglevel error -rtsp_transport tcp -i "$rtsp_url" -t 2 \
    -an -c:v copy -f hevc "$capture/ffmpeg-hevc/stream.hevc" || log "ffmpeg/hevc: exit $?"
  stop_proxy
  stop_funkhausd
fi

# A 64x64 picture (the synthetic source's barcode needs 64 columns): a frame ring small enough
# for the corpus, as capture and encode leave it.
write_config '["capture", "encode"]' '[rings]
max_width = 64
max_height = 64
[capture]
source = "synthetic"
width = 64
height = 64
fps = 30'
if start_funkhausd tiny capture; then
  sleep 2
  snapshot_memfds tiny
  stop_funkhausd
fi

# The virtual monitor: funkhausd and the vdisplay driver (Xvfb) talk on its control socket; a mode
# change through funkhausctl adds a SET_MODE. With an X display the input worker runs: the probe's
# input then passes through the input ring, read while it streams.
if command -v Xvfb > /dev/null && [[ -x $bin/funkhaus-vdisplay ]]; then
  write_config '["vdisplay", "capture", "encode", "net", "input"]' '[rings]
max_width = 1024
max_height = 768
[capture]
source = "vdisplay"
fps = 30
[vdisplay]
width = 640
height = 480
refresh_hz = 30
fb_width = 1024
fb_height = 768'
  cp "$work/funkhaus.toml" "$capture/funkhaus-vdisplay.toml"
  if start_funkhausd vdisplay capture; then
    start_proxy ctl-vdisplay
    ctl mode 800x600@30 > /dev/null
    sleep 2
    ctl status > /dev/null
    stop_proxy
    if [[ -x ${probe:-} && -f $work/client/keys/client.pem ]]; then
      start_proxy probe-vdisplay
      timeout 40 "$probe" --host 127.0.0.2 --http-port "$base_port" --keydir "$work/client/keys" \
        --width 640 --height 480 --fps 30 --bitrate 2000 --seconds 4 \
        --input-script "$work/input.txt" --quit > "$capture/probe-vdisplay.log" 2>&1 &
      viewer=$!
      sleep 3.5
      snapshot_memfds vdisplay
      wait "$viewer" || log "probe/vdisplay: exit $? (see $capture/probe-vdisplay.log)"
      stop_proxy
    fi
    stop_funkhausd
  fi
fi

# RTSP Digest: funkhaus-net never challenges a loopback viewer (rtsp_auth.cpp), so ffmpeg and
# GStreamer sign in against record_proxy.py's --rtsp-challenge stub, which answers every request
# with funkhaus-net's 401 challenge (realm "funkhaus") and records the Authorization they send.
digest_port=$((rtsp_port + 1))
for client in ffmpeg gstreamer; do
  rm -f "$work/proxy.ready"
  python3 "$here/record_proxy.py" --listen 127.0.0.2 --target 127.0.0.1 --capture "$capture/$client-digest" \
    --rtsp-challenge "$digest_port" --ready "$work/proxy.ready" 2>> "$capture/proxy.log" &
  proxy_pid=$!
  pids+=("$proxy_pid")
  for _ in $(seq 50); do [[ -e $work/proxy.ready ]] && break; sleep 0.1; done
  if [[ $client == ffmpeg ]]; then
    timeout 10 ffmpeg -nostdin -hide_banner -loglevel quiet -rtsp_transport tcp \
      -i "rtsp://viewer:secret@127.0.0.2:$digest_port/live" -t 1 -f null - || true
  elif command -v gst-launch-1.0 > /dev/null; then
    timeout -s INT 4 gst-launch-1.0 -q rtspsrc location="rtsp://127.0.0.2:$digest_port/live" \
      user-id=viewer user-pw=secret protocols=tcp ! fakesink > /dev/null 2>&1 || true
  fi
  stop_proxy
done

# The web console's own pages in headless Chromium (Debian's python3 for python3-selenium).
web_root=${FUNKHAUS_CONSOLE_WEB:-$bin/../console-web}
if [[ -x /usr/bin/python3 && -f $web_root/index.html ]]; then
  /usr/bin/python3 "$here/record_console.py" --bin "$bin" --web-root "$web_root" --capture "$capture" || \
    log "record_console.py: exit $? (console_request keeps its other seeds)"
else
  log "no console front end in $web_root: console_request not recorded"
fi

log "captures in $capture"
python3 "$here/make_corpus.py" --capture "$capture" --corpus "$corpus" --bin "$bin" --repo "$repo"
((keep)) && log "kept $capture"
