# Sourced by scripts/build.sh and scripts/fuzz.sh (with $root set): the compiler cache set-up of
# every build. Sets `launcher` to the CMake arguments that put ccache in front of the compiler,
# or to nothing when ccache is missing.
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
