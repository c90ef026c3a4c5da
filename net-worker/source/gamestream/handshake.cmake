# GameStream handshake: RTSP on TCP 48010 (request in, reply out), the ANNOUNCE parser and the
# media-port ping parser. Pure logic in funkhaus_net; included after funkhaus_net is defined
# (CMAKE_CURRENT_SOURCE_DIR is net-worker/).
target_sources(funkhaus_net PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/source/gamestream/announce.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/source/gamestream/handshake.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/source/gamestream/ping.cpp
)

if(FUNKHAUS_BUILD_TESTS)
  add_executable(funkhaus_gs_handshake_tests
    ${CMAKE_CURRENT_SOURCE_DIR}/test/gamestream/handshake_announce_test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/test/gamestream/handshake_ping_test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/test/gamestream/handshake_steps_test.cpp
  )
  target_link_libraries(funkhaus_gs_handshake_tests PRIVATE funkhaus::net GTest::gtest_main)
  funkhaus_target_defaults(funkhaus_gs_handshake_tests)
  gtest_discover_tests(funkhaus_gs_handshake_tests PROPERTIES LABELS unit TIMEOUT 300
                       DISCOVERY_TIMEOUT 60)

  funkhaus_add_fuzz_target(gs_handshake
    ${CMAKE_CURRENT_SOURCE_DIR}/test/fuzz/gs_handshake_fuzz.cpp funkhaus::net)
  funkhaus_add_fuzz_target(gs_announce
    ${CMAKE_CURRENT_SOURCE_DIR}/test/fuzz/gs_announce_fuzz.cpp funkhaus::net)
  funkhaus_add_fuzz_target(gs_ping ${CMAKE_CURRENT_SOURCE_DIR}/test/fuzz/gs_ping_fuzz.cpp
                           funkhaus::net)
endif()
