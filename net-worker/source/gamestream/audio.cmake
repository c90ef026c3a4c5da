# GameStream audio (gamestream.md §7): RTP packets of Opus, AES-128-CBC, the 4 + 2 Reed-Solomon
# FEC blocks with the client's fixed matrix (the Reed-Solomon code is the video library's). Pure
# logic on bytes; included by net-worker/CMakeLists.txt (CMAKE_CURRENT_SOURCE_DIR is net-worker/).
add_library(funkhaus_gs_audio STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/source/gamestream/audio_packetizer.cpp
)
add_library(funkhaus::gs_audio ALIAS funkhaus_gs_audio)
target_include_directories(funkhaus_gs_audio PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
target_link_libraries(funkhaus_gs_audio PUBLIC funkhaus::common funkhaus::gs_video
                      PRIVATE OpenSSL::Crypto)
funkhaus_target_defaults(funkhaus_gs_audio)

if(FUNKHAUS_BUILD_TESTS)
  # Unit tests. The FEC check decodes with the client's nanors, built at test time by the video
  # tests' reference codec (skips when the moonlight-common-c archive is absent).
  add_executable(funkhaus_gs_audio_tests
    ${CMAKE_CURRENT_SOURCE_DIR}/test/gamestream/video_reference_codec.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/test/gamestream/audio_packetizer_test.cpp
  )
  target_link_libraries(funkhaus_gs_audio_tests PRIVATE funkhaus::gs_audio OpenSSL::Crypto
                        GTest::gtest_main ${CMAKE_DL_LIBS})
  target_compile_definitions(funkhaus_gs_audio_tests PRIVATE
    FUNKHAUS_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  funkhaus_target_defaults(funkhaus_gs_audio_tests)
  gtest_discover_tests(funkhaus_gs_audio_tests PROPERTIES LABELS unit TIMEOUT 300
                       DISCOVERY_TIMEOUT 60)
endif()
