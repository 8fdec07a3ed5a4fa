# CTest driver: builds and runs tests/consumer against tinydiff in one of these ways.
#   cmake -DMODE=install|subdirectory|offline|standalone_offline -DSOURCE_DIR=... -DBUILD_DIR=...
#         -DWORK_DIR=... -DCXX=... -P run_consumer.cmake
#   install             find_package of a copy installed from BUILD_DIR
#   subdirectory        add_subdirectory of the source tree
#   offline             add_subdirectory as a machine without network, CLI11 or doctest would: any
#                       download fails (FETCHCONTENT_FULLY_DISCONNECTED) and neither package is found
#   standalone_offline  tinydiff itself configured and built the same way (tests and examples on by
#                       default): the programs that need doctest or CLI11 are left out with a message
cmake_minimum_required(VERSION 3.16)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}")
  endif()
  message("${out}")
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

set(common_args -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX})
if(LAUNCHER)
  list(APPEND common_args -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()
set(offline_args -DFETCHCONTENT_FULLY_DISCONNECTED=ON -DCMAKE_DISABLE_FIND_PACKAGE_CLI11=TRUE
                 -DCMAKE_DISABLE_FIND_PACKAGE_doctest=TRUE)
if(MODE STREQUAL "standalone_offline")
  file(REMOVE_RECURSE ${WORK_DIR})
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build ${common_args} ${offline_args})
  foreach(expected "doctest not found, so the tests are not built" "CLI11 not found, so ddpm_mnist")
    string(REGEX REPLACE "[ \n]+" " " flat "${last_output}")
    string(FIND "${flat}" "${expected}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "configuring without doctest and CLI11 did not say '${expected}'")
    endif()
  endforeach()
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
  return()
endif()

file(REMOVE_RECURSE ${WORK_DIR})
set(configure_args ${common_args})
if(MODE STREQUAL "install")
  run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
  list(APPEND configure_args -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
else()
  list(APPEND configure_args -DTINYDIFF_SOURCE_DIR=${SOURCE_DIR})
  if(MODE STREQUAL "offline")
    list(APPEND configure_args ${offline_args})
  endif()
endif()
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK_DIR}/build ${configure_args})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/mlp)
