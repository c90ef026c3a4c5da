# GameStream video (gamestream.md §6): packets, frame header, Reed-Solomon FEC, AES-GCM. Pure
# logic on bytes; included by net-worker/CMakeLists.txt (CMAKE_CURRENT_SOURCE_DIR is net-worker/).
add_library(funkhaus_gs_video STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/source/gamestream/reed_solomon.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/source/gamestream/video_packetizer.cpp
)
add_library(funkhaus::gs_video ALIAS funkhaus_gs_video)
target_include_directories(funkhaus_gs_video PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
target_link_libraries(funkhaus_gs_video PUBLIC funkhaus::common PRIVATE OpenSSL::Crypto)
funkhaus_target_defaults(funkhaus_gs_video)

if(FUNKHAUS_BUILD_TESTS)
  # Unit tests. The client-decoder check builds nanors from the moonlight-common-c archive at test
  # time into a temp dir (archive dir: $FUNKHAUS_TEST_CLIENTS, else the first shared/third_party
  # above the source tree, else /work/shared/third_party) and skips when it is absent.
  add_executable(funkhaus_gs_video_tests
    ${CMAKE_CURRENT_SOURCE_DIR}/test/gamestream/video_reference_codec.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/test/gamestream/video_packetizer_test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/test/gamestream/video_reed_solomon_test.cpp
  )
  target_link_libraries(funkhaus_gs_video_tests PRIVATE funkhaus_gs_video OpenSSL::Crypto
                        GTest::gtest_main ${CMAKE_DL_LIBS})
  target_compile_definitions(funkhaus_gs_video_tests PRIVATE
    FUNKHAUS_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  funkhaus_target_defaults(funkhaus_gs_video_tests)
  gtest_discover_tests(funkhaus_gs_video_tests PROPERTIES LABELS unit TIMEOUT 300
                       DISCOVERY_TIMEOUT 60)
endif()
