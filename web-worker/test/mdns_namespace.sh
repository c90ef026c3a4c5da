#!/usr/bin/env bash
# Runs inside `unshare -mnpf --mount-proc` (a private network, mount and pid namespace): a veth
# pair (the `dummy` module is not available everywhere), funkhaus-web started before any D-Bus
# or avahi-daemon (it must log once and keep serving), then a private dbus-daemon and
# avahi-daemon (funkhaus-web must announce itself once they run), then `moonlight list` without
# an address (it must find the host). Prints markers the test checks; exits 77 when the
# namespace cannot be set up.
#   mdns_namespace.sh FUNKHAUS_WEB MOONLIGHT WORKDIR
set -uo pipefail
web=$1 moonlight=$2 work=$3
skip() { echo "SKIP: $*"; exit 77; }
mount -t tmpfs tmpfs /run || skip "cannot mount a private /run"
mkdir -p /run/dbus /run/avahi-daemon
ip link set lo up || skip "no network namespace"
ip link add fh0 type veth peer name fh1 || skip "cannot make a veth pair"
ip addr add 10.77.0.1/24 dev fh0 && ip addr add 10.77.0.2/24 dev fh1
ip link set fh0 up multicast on && ip link set fh1 up multicast on

"$web" --state-dir "$work/state" --listen-address 0.0.0.0 --name funkhaus-mdns-test \
  >"$work/web.log" 2>&1 &
web_pid=$!
for _ in $(seq 100); do grep -q "serving GameStream" "$work/web.log" && break; sleep 0.1; done
sleep 1
echo "BEFORE-DAEMON serverinfo: $(curl -s --max-time 5 http://10.77.0.1:47989/serverinfo | grep -o '<state>[A-Z_]*</state>')"

dbus-daemon --system --fork --nopidfile || skip "dbus-daemon does not start"
avahi-daemon --no-drop-root --no-chroot --no-rlimits -D || skip "avahi-daemon does not start"
for _ in $(seq 300); do grep -q "mDNS: announced" "$work/web.log" && break; sleep 0.1; done
echo "MOONLIGHT-LIST-BEGIN"
timeout 30 "$moonlight" list -keydir "$work/keys" 2>&1
echo "MOONLIGHT-LIST-END"
kill "$web_pid"
wait "$web_pid"
echo "WEB-LOG-BEGIN"
cat "$work/web.log"
echo "WEB-LOG-END"
