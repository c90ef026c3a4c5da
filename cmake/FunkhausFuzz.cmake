# funkhaus_add_fuzz_target(NAME SOURCE LIBRARY...): a LLVMFuzzerTestOneInput target for one
# parser of untrusted bytes, callable from any component's CMakeLists. With FUNKHAUS_LIBFUZZER
# (clang) it links libFuzzer; otherwise the standalone driver replays the seed corpus and then
# mutates a valid seed deterministically, and the target runs as the ctest fuzz_NAME_smoke
# (label "unit").
#
# Per target NAME: seed corpus tests/fuzz/corpus/NAME/ (any file names), dictionary
# tests/fuzz/dict/NAME.dict (libFuzzer format); either may be missing. The fuzz source names the
# parser's own source files in one line `// fuzz-parser: dir/a.cpp dir/b.cpp` (paths from the
# repository root), which scripts/fuzz.sh reports the line coverage of.
#
# With FUNKHAUS_LIBFUZZER every target of the build is compiled with -fsanitize=fuzzer-no-link
# and ASan+UBSan (FunkhausCompileOptions.cmake), so the libraries that hold the parsers feed
# libFuzzer their coverage; only fuzz_NAME links the fuzzer. `funkhaus_fuzzers` builds every
# fuzz_NAME and nothing else; <build>/fuzz_targets.txt lists "NAME SOURCE" for scripts/fuzz.sh.

set(FUNKHAUS_FUZZ_CORPUS_DIR ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus)
set(FUNKHAUS_FUZZ_MANIFEST ${CMAKE_BINARY_DIR}/fuzz_targets.txt)
file(WRITE ${FUNKHAUS_FUZZ_MANIFEST} "")
add_custom_target(funkhaus_fuzzers)

function(funkhaus_add_fuzz_target name source)
  add_executable(fuzz_${name} ${source})
  target_link_libraries(fuzz_${name} PRIVATE ${ARGN})
  target_include_directories(fuzz_${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/fuzz)
  funkhaus_target_defaults(fuzz_${name})
  add_dependencies(funkhaus_fuzzers fuzz_${name})
  get_filename_component(absolute ${source} ABSOLUTE)
  file(APPEND ${FUNKHAUS_FUZZ_MANIFEST} "${name} ${absolute}\n")
  if(FUNKHAUS_LIBFUZZER)
    target_compile_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  else()
    target_sources(fuzz_${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/fuzz/standalone_driver.cpp)
    # The checked-in corpus first (regression inputs; the driver accepts a missing directory),
    # then the mutations.
    add_test(NAME fuzz_${name}_smoke
             COMMAND fuzz_${name} --corpus ${FUNKHAUS_FUZZ_CORPUS_DIR}/${name} --iterations 20000)
    set_tests_properties(fuzz_${name}_smoke PROPERTIES LABELS unit TIMEOUT 600)
  endif()
endfunction()
