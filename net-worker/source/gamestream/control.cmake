# GameStream control stream (included by net-worker/CMakeLists.txt): our own ENet 1.3 server for
# one peer on shared-memory state, the AES-128-GCM control cipher and the control messages.
add_library(funkhaus_gs_control STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/source/gamestream/enet_wire.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/source/gamestream/enet_server.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/source/gamestream/control_cipher.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/source/gamestream/control_messages.cpp
)
add_library(funkhaus::gs_control ALIAS funkhaus_gs_control)
target_include_directories(funkhaus_gs_control PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
target_link_libraries(funkhaus_gs_control
  PUBLIC funkhaus::common funkhaus::abi
  PRIVATE OpenSSL::Crypto spdlog::spdlog)
funkhaus_target_defaults(funkhaus_gs_control)

if(FUNKHAUS_BUILD_TESTS)
  # Debian's libenet is the interop client of the tests; nothing else links it.
  pkg_check_modules(LIBENET REQUIRED IMPORTED_TARGET libenet)

  add_executable(funkhaus_gs_control_tests
    ${CMAKE_CURRENT_SOURCE_DIR}/test/gamestream/control_wire_test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/test/gamestream/control_server_test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/test/gamestream/control_interop_test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/test/gamestream/control_cipher_test.cpp
  )
  target_include_directories(funkhaus_gs_control_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests/unit)
  target_link_libraries(funkhaus_gs_control_tests PRIVATE funkhaus::gs_control OpenSSL::Crypto
                        PkgConfig::LIBENET GTest::gtest_main)
  funkhaus_target_defaults(funkhaus_gs_control_tests)
  gtest_discover_tests(funkhaus_gs_control_tests PROPERTIES LABELS unit TIMEOUT 300
                       DISCOVERY_TIMEOUT 60)

  funkhaus_add_fuzz_target(gs_control_message
    ${CMAKE_CURRENT_SOURCE_DIR}/test/fuzz/gs_control_message_fuzz.cpp funkhaus::gs_control)
  funkhaus_add_fuzz_target(gs_enet
    ${CMAKE_CURRENT_SOURCE_DIR}/test/fuzz/gs_enet_fuzz.cpp funkhaus::gs_control
    spdlog::spdlog)
endif()
