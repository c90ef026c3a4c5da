# The Windows build (issue 17, first slice), included by the top-level CMakeLists.txt instead of
# everything after it: shm-abi, common's rings on common/platform/windows, the encode worker's
# encoder over libavcodec + libx264 (with scripts/windows-deps.sh), and their tests as
# .exe files that ctest runs under Wine (CMAKE_CROSSCOMPILING_EMULATOR of
# cmake/toolchains/mingw-w64.cmake). Debian has no mingw builds of fmt, spdlog or GoogleTest: fmt
# and spdlog are used header-only from the host's headers, GoogleTest is built from
# /usr/src/googletest.

# fmt, header-only, from /usr/include/fmt (a link in the build tree, so that no other host header
# shadows mingw's).
find_path(FUNKHAUS_HOST_FMT_DIR fmt/format.h PATHS /usr/include NO_DEFAULT_PATH
          NO_CMAKE_FIND_ROOT_PATH REQUIRED)
set(funkhaus_host_include ${CMAKE_BINARY_DIR}/host-include)
file(MAKE_DIRECTORY ${funkhaus_host_include})
file(CREATE_LINK ${FUNKHAUS_HOST_FMT_DIR}/fmt ${funkhaus_host_include}/fmt SYMBOLIC)
add_library(funkhaus_fmt_header_only INTERFACE)
target_include_directories(funkhaus_fmt_header_only SYSTEM INTERFACE ${funkhaus_host_include})
target_compile_definitions(funkhaus_fmt_header_only INTERFACE FMT_HEADER_ONLY=1)
add_library(fmt::fmt ALIAS funkhaus_fmt_header_only)

# A header-only library of the host's: /usr/include/<dir> linked into the build tree beside fmt
# (found by <probe>, a file in it), as INTERFACE target <alias> on top of fmt.
function(funkhaus_host_headers alias dir probe)
  string(MAKE_C_IDENTIFIER "funkhaus_host_${dir}" target)
  find_path(${target}_DIR ${probe} PATHS /usr/include NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH
            REQUIRED)
  file(CREATE_LINK ${${target}_DIR}/${dir} ${funkhaus_host_include}/${dir} SYMBOLIC)
  add_library(${target} INTERFACE)
  target_link_libraries(${target} INTERFACE funkhaus_fmt_header_only)
  add_library(${alias} ALIAS ${target})
endfunction()

# spdlog without SPDLOG_COMPILED_LIB (Debian's tweakme.h selects the external fmt); Boost.Asio
# for funkhausd's event loop, its completion port (mingw-w64's default _WIN32_WINNT, Windows 10,
# is what Asio wants); nlohmann-json; CLI11 for the programs' arguments.
funkhaus_host_headers(spdlog::spdlog spdlog spdlog/spdlog.h)
funkhaus_host_headers(Boost::headers boost boost/version.hpp)
funkhaus_host_headers(nlohmann_json::nlohmann_json nlohmann nlohmann/json.hpp)
funkhaus_host_headers(CLI11::CLI11 CLI CLI/CLI.hpp)

# The media libraries, static, cross-built from Debian's source packages by
# scripts/windows-deps.sh into a cache outside the clone; FUNKHAUS_WINDOWS_DEPS is the prefix it
# prints (scripts/test-windows.sh passes it). Without it the encoder and its tests are left out.
set(FUNKHAUS_WINDOWS_DEPS "" CACHE PATH
    "Prefix of scripts/windows-deps.sh (mingw x264, libavcodec, libswscale, libyuv); empty: no encoder")
set(FUNKHAUS_WINDOWS_MEDIA OFF)
if(FUNKHAUS_WINDOWS_DEPS)
  # Its .pc files only, never the host's. The targets get the names the Linux build uses
  # (PkgConfig::LIBAV, funkhaus_libyuv), so the component CMakeLists name them once. Not
  # IMPORTED_TARGET: that finds the libraries again under CMAKE_FIND_ROOT_PATH, and the prefix
  # lies outside it; --static link lines (Libs.private: x264, bcrypt, ...) instead.
  find_package(PkgConfig REQUIRED)
  set(ENV{PKG_CONFIG_LIBDIR} ${FUNKHAUS_WINDOWS_DEPS}/lib/pkgconfig)
  set(ENV{PKG_CONFIG_PATH} "")
  # pkg_check_modules keeps its answer while its arguments stay the same: a new prefix (new
  # source versions, a new cache) must be asked again.
  if(NOT FUNKHAUS_WINDOWS_DEPS STREQUAL "${FUNKHAUS_WINDOWS_DEPS_CHECKED}")
    unset(__pkg_config_checked_LIBAV CACHE)
    unset(__pkg_config_checked_LIBYUV CACHE)
  endif()
  pkg_check_modules(LIBAV REQUIRED libavcodec libavutil libswscale)
  pkg_check_modules(LIBYUV REQUIRED libyuv)
  set(FUNKHAUS_WINDOWS_DEPS_CHECKED ${FUNKHAUS_WINDOWS_DEPS} CACHE INTERNAL
      "the prefix LIBAV and LIBYUV were found in")
  add_library(PkgConfig::LIBAV INTERFACE IMPORTED)
  target_include_directories(PkgConfig::LIBAV SYSTEM INTERFACE ${LIBAV_STATIC_INCLUDE_DIRS})
  target_link_libraries(PkgConfig::LIBAV INTERFACE ${LIBAV_STATIC_LDFLAGS})
  add_library(funkhaus_libyuv INTERFACE IMPORTED)
  target_include_directories(funkhaus_libyuv SYSTEM INTERFACE ${LIBYUV_STATIC_INCLUDE_DIRS})
  target_link_libraries(funkhaus_libyuv INTERFACE ${LIBYUV_STATIC_LDFLAGS})
  set(FUNKHAUS_WINDOWS_MEDIA ON)
  message(STATUS "Windows media libraries: libavcodec ${LIBAV_libavcodec_VERSION} from "
                 "${FUNKHAUS_WINDOWS_DEPS}")
else()
  message(STATUS "FUNKHAUS_WINDOWS_DEPS not set (scripts/windows-deps.sh): no encoder")
endif()

set(CMAKE_RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)

# mingw's localtime_r and gmtime_r (POSIX's thread-safe time functions) for the portable sources.
add_compile_definitions(_POSIX_THREAD_SAFE_FUNCTIONS=200112L)

add_subdirectory(shm-abi)
add_subdirectory(common)
add_subdirectory(supervisor)
add_subdirectory(net-worker)  # RTSP/RTP over winsock (no GameStream yet)
# The installer's file name (packaging/windows; its test in tests/windows finds it).
set(FUNKHAUS_INSTALLER_NAME funkhaus-${PROJECT_VERSION}-windows-x64)
if(FUNKHAUS_WINDOWS_MEDIA)
  add_subdirectory(capture-worker)
  add_subdirectory(encode-worker)
  add_subdirectory(packaging/windows)  # the NSIS installer (cpack -G NSIS, after the build)
endif()

if(FUNKHAUS_BUILD_TESTS)
  enable_testing()
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
  add_subdirectory(/usr/src/googletest ${CMAKE_BINARY_DIR}/googletest EXCLUDE_FROM_ALL SYSTEM)
  include(GoogleTest)
  add_subdirectory(tests/windows)
endif()
