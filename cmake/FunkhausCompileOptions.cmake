# Warning and sanitizer flags shared by every funkhaus target (funkhaus_target_defaults).

# FUNKHAUS_LIBFUZZER (clang only): ASan+UBSan on, and every target compiled with
# -fsanitize=fuzzer-no-link, so the libraries that hold the parsers give libFuzzer their coverage
# (fuzz_NAME alone links the fuzzer, FunkhausFuzz.cmake). FUNKHAUS_FUZZ_COVERAGE adds clang's
# source-based coverage to the same build: scripts/fuzz.sh's line coverage of each corpus.
if(FUNKHAUS_LIBFUZZER)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "FUNKHAUS_LIBFUZZER needs clang: configure with CXX=clang++")
  endif()
  set(FUNKHAUS_ENABLE_ASAN ON)
  set(FUNKHAUS_ENABLE_UBSAN ON)
  add_compile_options(-fsanitize=fuzzer-no-link)
  # Clang counts every constexpr evaluation step (1 M by default; GCC limits each loop): the
  # Reed-Solomon multiplication table (64 K entries, reed_solomon.cpp) is built at compile time.
  add_compile_options(-fconstexpr-steps=67108864)
endif()
if(FUNKHAUS_FUZZ_COVERAGE)
  if(NOT FUNKHAUS_LIBFUZZER)
    message(FATAL_ERROR "FUNKHAUS_FUZZ_COVERAGE goes with FUNKHAUS_LIBFUZZER")
  endif()
  add_compile_options(-fprofile-instr-generate -fcoverage-mapping)
  add_link_options(-fprofile-instr-generate)
endif()

if(FUNKHAUS_ENABLE_TSAN AND (FUNKHAUS_ENABLE_ASAN OR FUNKHAUS_ENABLE_UBSAN))
  message(FATAL_ERROR "FUNKHAUS_ENABLE_TSAN cannot be combined with ASan or UBSan")
endif()

set(FUNKHAUS_SANITIZER_FLAGS "")
if(FUNKHAUS_ENABLE_ASAN)
  list(APPEND FUNKHAUS_SANITIZER_FLAGS -fsanitize=address)
endif()
if(FUNKHAUS_ENABLE_UBSAN)
  list(APPEND FUNKHAUS_SANITIZER_FLAGS -fsanitize=undefined -fno-sanitize-recover=undefined)
endif()
if(FUNKHAUS_ENABLE_TSAN)
  list(APPEND FUNKHAUS_SANITIZER_FLAGS -fsanitize=thread)
endif()
if(FUNKHAUS_SANITIZER_FLAGS)
  list(APPEND FUNKHAUS_SANITIZER_FLAGS -fno-omit-frame-pointer)
  add_compile_options(${FUNKHAUS_SANITIZER_FLAGS})
  add_link_options(${FUNKHAUS_SANITIZER_FLAGS})
endif()

# Line and branch coverage of the test suite (scripts/test.sh --coverage): gcov instrumentation in
# every object and program. A process writes its counts into .gcda files beside the objects when it
# exits normally (not when killed by a signal), merging with what other processes wrote there.
if(FUNKHAUS_ENABLE_COVERAGE)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    message(FATAL_ERROR "FUNKHAUS_ENABLE_COVERAGE needs gcc (gcov, read by gcovr)")
  endif()
  add_compile_options(--coverage)
  add_link_options(--coverage)
endif()

function(funkhaus_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wnon-virtual-dtor
                                           -Wold-style-cast -Wcast-align -Wunused)
  if(FUNKHAUS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
    if(FUNKHAUS_SANITIZER_FLAGS AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      # GCC 12's flow analysis reports false maybe-uninitialized warnings in std::variant moves
      # once ASan instruments them; the plain build keeps the warning as an error.
      target_compile_options(${target} PRIVATE -Wno-error=maybe-uninitialized)
    endif()
    if(FUNKHAUS_ENABLE_TSAN AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      # GCC 12 warns that TSan does not model atomic_thread_fence, which Boost.Asio uses.
      target_compile_options(${target} PRIVATE -Wno-error=tsan)
    endif()
  endif()
endfunction()
