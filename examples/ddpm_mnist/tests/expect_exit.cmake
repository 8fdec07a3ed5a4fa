# Runs EXE with ARGS and fails unless it exits with status EXPECT and says something on stderr.
# EMULATOR (optional, a list): the cross-compiling emulator that runs EXE, e.g. qemu-aarch64-static.
execute_process(COMMAND ${EMULATOR} ${EXE} ${ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL EXPECT)
  message(FATAL_ERROR "${EXE} ${ARGS}: exit status ${rc}, expected ${EXPECT}\n${out}\n${err}")
endif()
if(err STREQUAL "")
  message(FATAL_ERROR "${EXE} ${ARGS}: no message on stderr")
endif()
message("exit ${rc} as expected: ${err}")
