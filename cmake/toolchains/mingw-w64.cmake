# Cross-build for 64-bit Windows with Debian's mingw-w64 GCC (posix threads: std::thread and
# std::mutex need them) and run the tests under Wine (issue 17):
#   cmake -S . -B build-windows -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/mingw-w64.cmake
# Only the portable parts configure on Windows so far (cmake/FunkhausWindows.cmake).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(FUNKHAUS_MINGW_TRIPLE x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${FUNKHAUS_MINGW_TRIPLE}-gcc-posix)
set(CMAKE_CXX_COMPILER ${FUNKHAUS_MINGW_TRIPLE}-g++-posix)
set(CMAKE_RC_COMPILER ${FUNKHAUS_MINGW_TRIPLE}-windres)

# Libraries and headers of the target only; programs (cmake, the emulator) of the host.
set(CMAKE_FIND_ROOT_PATH /usr/${FUNKHAUS_MINGW_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Static libstdc++, libgcc and winpthread: the .exe files run under Wine (and on Windows) without
# mingw's DLLs on the path.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

# ctest runs the .exe tests through Wine. Debian puts no wine64 on PATH.
set(CMAKE_CROSSCOMPILING_EMULATOR /usr/lib/wine/wine64)
