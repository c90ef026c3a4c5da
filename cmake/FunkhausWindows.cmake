# The Windows build (issue 17, first slice), included by the top-level CMakeLists.txt instead of
# everything after it: shm-abi, common's rings on common/platform/windows, and their tests as
# .exe files that ctest runs under Wine (CMAKE_CROSSCOMPILING_EMULATOR of
# cmake/toolchains/mingw-w64.cmake). Debian has no mingw builds of fmt or GoogleTest: fmt is
# used header-only from the host's headers, GoogleTest is built from /usr/src/googletest.

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

set(CMAKE_RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)

add_subdirectory(shm-abi)
add_subdirectory(common)

if(FUNKHAUS_BUILD_TESTS)
  enable_testing()
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
  add_subdirectory(/usr/src/googletest ${CMAKE_BINARY_DIR}/googletest EXCLUDE_FROM_ALL SYSTEM)
  include(GoogleTest)
  add_subdirectory(tests/windows)
endif()
