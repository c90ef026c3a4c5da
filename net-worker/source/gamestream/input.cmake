# GameStream input (gamestream.md §8): the input packets of control message 0x0206 decoded into
# input ring events. Pure logic on bytes; included by net-worker/CMakeLists.txt
# (CMAKE_CURRENT_SOURCE_DIR is net-worker/).
add_library(funkhaus_gs_input STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/source/gamestream/input_packet.cpp
)
add_library(funkhaus::gs_input ALIAS funkhaus_gs_input)
target_include_directories(funkhaus_gs_input PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
target_link_libraries(funkhaus_gs_input PUBLIC funkhaus::common funkhaus::abi)
funkhaus_target_defaults(funkhaus_gs_input)

if(FUNKHAUS_BUILD_TESTS)
  add_executable(funkhaus_gs_input_tests
    ${CMAKE_CURRENT_SOURCE_DIR}/test/gamestream/input_packet_test.cpp
  )
  target_link_libraries(funkhaus_gs_input_tests PRIVATE funkhaus::gs_input GTest::gtest_main)
  funkhaus_target_defaults(funkhaus_gs_input_tests)
  gtest_discover_tests(funkhaus_gs_input_tests PROPERTIES LABELS unit TIMEOUT 300
                       DISCOVERY_TIMEOUT 60)

  funkhaus_add_fuzz_target(gs_input ${CMAKE_CURRENT_SOURCE_DIR}/test/fuzz/gs_input_fuzz.cpp
                           funkhaus::gs_input)
endif()
