#!/usr/bin/env bash
# Installs the Debian 12 packages funkhaus needs to build, test and run. Idempotent: packages
# already present are not touched, and apt is only called when something is missing.
#   scripts/install-deps.sh [--windows]   --windows: also mingw-w64 and Wine (scripts/test.sh --windows)
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config git ccache
  clang clang-format libclang-rt-14-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev libtomlplusplus-dev
  libboost-dev libsystemd-dev libcap-dev
  # GameStream (funkhaus-web): TLS and pairing crypto, mDNS through avahi-daemon
  libssl-dev libavahi-client-dev
  # capture and encode: libavcodec (libx264, libx265), libswscale, libyuv, X11 capture over xcb
  libavcodec-dev libavutil-dev libswscale-dev libyuv-dev
  libxcb1-dev libxcb-shm0-dev libxcb-damage0-dev libxcb-xfixes0-dev libxcb-randr0-dev
  # input: XTEST into the session's X display, uinput devices read back with libevdev
  libxcb-xtest0-dev libxcb-xkb-dev libevdev-dev
  # tests: real X servers and clients, real viewers, an EDID parser nobody here wrote
  xvfb x11-apps x11-utils xterm x11-xserver-utils
  ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-libav
  # the pipeline bench's --peers: GStreamer's x264enc
  gstreamer1.0-plugins-ugly
  edid-decode
  # fuzzing (scripts/fuzz.sh): libFuzzer is libclang-rt-14-dev above; llvm-profdata/llvm-cov-14
  llvm-14
  # GameStream tests: curl and openssl as HTTP(S)/TLS clients, avahi-daemon and a private D-Bus
  # in a network namespace (veth pair), and Moonlight Embedded's build dependencies
  curl openssl avahi-daemon dbus iproute2 libenet-dev
  libopus-dev libevdev-dev libudev-dev libcurl4-openssl-dev libexpat1-dev uuid-dev libsdl2-dev
  # audio: libpulse (the session's sound server), a private pulseaudio with pactl/paplay for tests
  libpulse-dev pulseaudio pulseaudio-utils
  # web console (issue 16): its pages in a real browser, headless Chromium driven by selenium
  # (the front end itself is built with the machine's Node.js and npm, not Debian's)
  chromium chromium-driver python3-selenium
  # packaging: the .deb and its checks under a real systemd
  dpkg-dev fakeroot systemd dbus libpam-systemd man-db
  # coverage
  gcovr
)
# --windows: the Windows cross-build (mingw-w64 GCC with posix threads) and Wine to run its tests
if [[ ${1:-} == --windows ]]; then
  # nasm and dpkg-dev: scripts/windows-deps.sh (x264's assembly; apt-get source unpacks with
  # dpkg-source); nsis: the installer (packaging/windows, cpack -G NSIS)
  packages+=(g++-mingw-w64-x86-64-posix wine wine64 nasm dpkg-dev nsis)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
