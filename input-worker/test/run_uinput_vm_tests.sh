#!/bin/sh
# run_uinput_vm_tests.sh BINARY [GTEST ARGS...] - runs the uinput backend's device tests
# (funkhaus_input_uinput_tests) as root in a throwaway qemu VM with Debian's kernel and the
# uinput and evdev modules loaded: this machine's kernel has no /dev/uinput, and devices made on
# a CI runner's own kernel would turn up in its sessions. Uses shared/tools/vm (found above the
# source tree, or in $FUNKHAUS_TEST_TOOLS/vm) and prepares the VM once with its setup-vm.sh
# (~1 min, cached in ~/.cache/funkhaus-vm).
# Exit status: the tests'; 77 (ctest SKIP_RETURN_CODE) with a "skipped: <why>" line when no VM
# can run here.
set -u
[ $# -ge 1 ] || { echo "usage: $0 funkhaus_input_uinput_tests [gtest args]" >&2; exit 2; }
bin=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "skipped: $*"; exit 77; }

tools=
if [ -n "${FUNKHAUS_TEST_TOOLS:-}" ]; then
  tools=$FUNKHAUS_TEST_TOOLS/vm
else
  d=$here
  while [ "$d" != / ]; do
    if [ -x "$d/shared/tools/vm/run-in-vm.sh" ]; then tools=$d/shared/tools/vm; break; fi
    d=$(dirname "$d")
  done
fi
[ -n "$tools" ] && [ -x "$tools/run-in-vm.sh" ] ||
  skip "no shared/tools/vm/run-in-vm.sh above $here (set FUNKHAUS_TEST_TOOLS)"
[ -x "$bin" ] || { echo "$0: $bin is not an executable" >&2; exit 2; }

vmdir=${VMDIR:-${XDG_CACHE_HOME:-$HOME/.cache}/funkhaus-vm}
ready() { [ -f "$vmdir/vmlinux" ] && [ -f "$vmdir/initrd.img" ] && [ -f "$vmdir/kver" ]; }
if ! ready; then
  [ "$(id -u)" = 0 ] || skip "the VM is not prepared ($vmdir) and only root can install its packages: run $tools/setup-vm.sh as root once"
  mkdir -p "$vmdir" || skip "cannot create $vmdir"
  echo "preparing the VM once ($tools/setup-vm.sh, ~1 min) ..."
  log=$vmdir/setup.log
  # One setup at a time, whoever runs it.
  if ! flock "$vmdir.lock" sh -c "$tools/setup-vm.sh" >"$log" 2>&1; then
    tail -5 "$log"
    skip "the VM could not be prepared ($tools/setup-vm.sh failed; log in $log)"
  fi
fi
ready || skip "the VM is not prepared ($vmdir)"
command -v qemu-system-x86_64 >/dev/null 2>&1 || skip "qemu-system-x86_64 is not installed"
qemu-system-x86_64 --version >/dev/null 2>&1 || skip "qemu-system-x86_64 does not run here"

# Nothing is written to the host (VM_RW empty); the binary and its libraries are read through the
# VM's read-only view of this machine's root.
VM_RW="" VM_MODULES="uinput evdev" VM_TIMEOUT=${VM_TIMEOUT:-540} "$tools/run-in-vm.sh" "$bin" "$@"
rc=$?
[ $rc = 125 ] && echo "$0: the VM gave no exit status (boot failure or timeout; console above)" >&2
exit $rc
