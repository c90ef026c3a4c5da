# funkhaus_add_fuzz_target(NAME SOURCE LIBRARY...): a LLVMFuzzerTestOneInput target for one
# parser of untrusted bytes, callable from any component's CMakeLists. With FUNKHAUS_LIBFUZZER
# (clang) it links libFuzzer; otherwise the standalone driver mutates a valid seed
# deterministically and the target runs as the ctest fuzz_NAME_smoke (label "unit").
function(funkhaus_add_fuzz_target name source)
  add_executable(fuzz_${name} ${source})
  target_link_libraries(fuzz_${name} PRIVATE ${ARGN})
  target_include_directories(fuzz_${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/fuzz)
  funkhaus_target_defaults(fuzz_${name})
  if(FUNKHAUS_LIBFUZZER)
    target_compile_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  else()
    target_sources(fuzz_${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/fuzz/standalone_driver.cpp)
    add_test(NAME fuzz_${name}_smoke COMMAND fuzz_${name} --iterations 20000)
    set_tests_properties(fuzz_${name}_smoke PROPERTIES LABELS unit TIMEOUT 600)
  endif()
endfunction()
