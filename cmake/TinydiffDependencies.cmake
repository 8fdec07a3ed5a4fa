# Dependency lookup: the system's packages first (find_package), and where one is
# missing, FetchContent from the project's release archive, so that a user on a
# system without the package but with internet can still build.
include(FetchContent)

# Eigen 3.4: the target Eigen3::Eigen.
macro(tinydiff_find_eigen)
  find_package(Eigen3 3.4 CONFIG QUIET)
  if(Eigen3_FOUND)
    message(STATUS "tinydiff: Eigen ${Eigen3_VERSION} found at ${Eigen3_DIR}")
    set(TINYDIFF_EIGEN_FETCHED OFF)
  else()
    message(STATUS "tinydiff: Eigen 3.4 not found; fetching it (install libeigen3-dev to avoid this)")
    FetchContent_Declare(tinydiff_eigen
      URL https://gitlab.com/libeigen/eigen/-/archive/3.4.0/eigen-3.4.0.tar.gz)
    FetchContent_GetProperties(tinydiff_eigen)
    if(NOT tinydiff_eigen_POPULATED)
      FetchContent_Populate(tinydiff_eigen)
    endif()
    add_library(Eigen3::Eigen INTERFACE IMPORTED GLOBAL)
    set_target_properties(Eigen3::Eigen PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${tinydiff_eigen_SOURCE_DIR}")
    set(TINYDIFF_EIGEN_FETCHED ON)
  endif()
endmacro()

# doctest: the target doctest::doctest (tests only).
macro(tinydiff_find_doctest)
  find_package(doctest CONFIG QUIET)
  if(NOT doctest_FOUND)
    message(STATUS "tinydiff: doctest not found; fetching it (install doctest-dev to avoid this)")
    FetchContent_Declare(tinydiff_doctest
      URL https://github.com/doctest/doctest/archive/refs/tags/v2.4.9.tar.gz)
    FetchContent_GetProperties(tinydiff_doctest)
    if(NOT tinydiff_doctest_POPULATED)
      FetchContent_Populate(tinydiff_doctest)
    endif()
    add_library(doctest::doctest INTERFACE IMPORTED GLOBAL)
    set_target_properties(doctest::doctest PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${tinydiff_doctest_SOURCE_DIR}")
  endif()
endmacro()
