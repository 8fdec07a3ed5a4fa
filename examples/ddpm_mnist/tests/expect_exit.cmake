# Runs EXE with ARGS and fails unless it exits with status EXPECT and says something on stderr.
execute_process(COMMAND ${EXE} ${ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL EXPECT)
  message(FATAL_ERROR "${EXE} ${ARGS}: exit status ${rc}, expected ${EXPECT}\n${out}\n${err}")
endif()
if(err STREQUAL "")
  message(FATAL_ERROR "${EXE} ${ARGS}: no message on stderr")
endif()
message("exit ${rc} as expected: ${err}")
