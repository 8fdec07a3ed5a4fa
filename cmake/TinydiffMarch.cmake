# The -march of the project's own programs (tests, examples, benchmarks), from the cache
# variables TINYDIFF_MARCH and TINYDIFF_NATIVE (see CMakeLists.txt). Consumers of the
# tinydiff target never get it: it only goes into tinydiff_program_flags.
include(CheckCXXCompilerFlag)

# tinydiff_resolve_march(out_var): sets out_var to the value to pass as -march=..., or to
# "none" for no -march flag at all; stops with an error the user can act on when the value
# cannot work.
function(tinydiff_resolve_march out_var)
  set(march "${TINYDIFF_MARCH}")
  if(march STREQUAL "")
    if(NOT TINYDIFF_NATIVE)
      set(march none)  # the older -DTINYDIFF_NATIVE=OFF: the compiler's default target
    elseif(CMAKE_CROSSCOMPILING)
      # -march=native describes the machine that builds, not the one that runs the programs.
      set(march none)
      message(STATUS "tinydiff: cross-compiling, so no -march=native: the ${CMAKE_SYSTEM_PROCESSOR} "
                     "compiler's default target (set TINYDIFF_MARCH to choose another)")
    else()
      set(march native)
    endif()
  elseif(march STREQUAL "native" AND CMAKE_CROSSCOMPILING)
    message(FATAL_ERROR "TINYDIFF_MARCH=native cannot work when cross-compiling for ${CMAKE_SYSTEM_PROCESSOR}: "
                        "it would describe the build machine. Use none, or a -march value of the target.")
  endif()

  if(march STREQUAL "none")
    message(STATUS "tinydiff: tests, examples and benchmarks built without -march (the compiler's default target)")
  else()
    # A misspelt value should fail here, naming the option, rather than in the first compile.
    string(MAKE_C_IDENTIFIER "TINYDIFF_MARCH_ACCEPTED_${march}" accepted)
    check_cxx_compiler_flag("-march=${march}" ${accepted})
    if(NOT ${accepted})
      message(FATAL_ERROR "TINYDIFF_MARCH=${march}: ${CMAKE_CXX_COMPILER} does not accept -march=${march}. "
                          "Use native, none, or a value the compiler knows (e.g. x86-64-v3, armv8.2-a).")
    endif()
    message(STATUS "tinydiff: tests, examples and benchmarks built with -march=${march}")
  endif()
  set(${out_var} "${march}" PARENT_SCOPE)
endfunction()
