# Builds the funkhaus .deb from an already built tree (target funkhaus_deb): installs into a
# staging tree, then lets cpack package exactly that tree (CPACK_INSTALLED_DIRECTORIES), so
# cpack does not rebuild the project from inside the build.
#   cmake -DBUILD_DIR=... -DSTAGING=... -DCPACK=... -DDEB=... -P make_deb.cmake
foreach(var BUILD_DIR STAGING CPACK DEB)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "make_deb.cmake: -D${var}= is missing")
  endif()
endforeach()

file(REMOVE_RECURSE ${STAGING})
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env DESTDIR=${STAGING}
          ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix / --strip
  OUTPUT_QUIET RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "make_deb.cmake: installing into ${STAGING} failed (${result})")
endif()

get_filename_component(deb_dir ${DEB} DIRECTORY)
file(REMOVE ${DEB})
execute_process(
  COMMAND ${CPACK} -G DEB --config ${BUILD_DIR}/CPackConfig.cmake -B ${deb_dir}
          -D CPACK_INSTALL_CMAKE_PROJECTS=
          -D "CPACK_INSTALLED_DIRECTORIES=${STAGING};/"
  OUTPUT_VARIABLE output ERROR_VARIABLE output RESULT_VARIABLE result)
if(NOT result EQUAL 0 OR NOT EXISTS ${DEB})
  message(FATAL_ERROR "make_deb.cmake: cpack did not make ${DEB} (${result}):\n${output}")
endif()
file(REMOVE_RECURSE ${deb_dir}/_CPack_Packages)
