# Dependency lookup: the system's packages first (find_package), and where one is
# missing, FetchContent from the project's release archive, so that a user on a
# system without the package but with internet can still build.
include(FetchContent)

# The library's own dependencies (Eigen, nlohmann_json, stb) are fetched when missing: nothing builds
# without them. What only tinydiff's tests and examples need (doctest, CLI11) is never downloaded
# unless asked for: without it those programs are left out with a message saying what to install.
option(TINYDIFF_FETCH_DEV_DEPS "Download doctest and CLI11 when they are not installed" OFF)

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

# nlohmann/json 3: the target nlohmann_json::nlohmann_json (safetensors headers).
macro(tinydiff_find_json)
  find_package(nlohmann_json 3 CONFIG QUIET)
  if(nlohmann_json_FOUND)
    message(STATUS "tinydiff: nlohmann_json ${nlohmann_json_VERSION} found at ${nlohmann_json_DIR}")
  else()
    message(STATUS "tinydiff: nlohmann_json 3 not found; fetching it (install nlohmann-json3-dev to avoid this)")
    FetchContent_Declare(tinydiff_json
      URL https://github.com/nlohmann/json/releases/download/v3.11.2/json.tar.xz)
    FetchContent_GetProperties(tinydiff_json)
    if(NOT tinydiff_json_POPULATED)
      FetchContent_Populate(tinydiff_json)
    endif()
    add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED GLOBAL)
    set_target_properties(nlohmann_json::nlohmann_json PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${tinydiff_json_SOURCE_DIR}/include")
  endif()
endmacro()

# doctest: the target doctest::doctest (tests only) when Debian's doctest-dev (or another doctest
# package) is installed; downloaded only when TINYDIFF_FETCH_DEV_DEPS=ON (the top-level CMakeLists.txt
# leaves the tests out, and says so, when it is missing).
macro(tinydiff_find_doctest)
  if(NOT TARGET doctest::doctest)
    find_package(doctest CONFIG QUIET)
  endif()
  if(NOT TARGET doctest::doctest AND TINYDIFF_FETCH_DEV_DEPS)
    message(STATUS "tinydiff: doctest not found; fetching it (TINYDIFF_FETCH_DEV_DEPS=ON)")
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

# zlib (gzipped IDX files): the target ZLIB::ZLIB. Every system has it; no fallback.
macro(tinydiff_find_zlib)
  find_package(ZLIB REQUIRED)
endmacro()

# stb_image_write (PNG output, io/png.hpp): Debian's libstb-dev puts it at <stb/stb_image_write.h>.
# Without it, the header is fetched and its folder added to the build-tree include path.
macro(tinydiff_find_stb)
  find_path(TINYDIFF_STB_INCLUDE_DIR stb/stb_image_write.h)
  if(TINYDIFF_STB_INCLUDE_DIR)
    set(TINYDIFF_STB_FETCHED_DIR "")
  else()
    message(STATUS "tinydiff: stb_image_write not found; fetching it (install libstb-dev to avoid this)")
    FetchContent_Declare(tinydiff_stb
      URL https://github.com/nothings/stb/archive/refs/heads/master.tar.gz)
    FetchContent_GetProperties(tinydiff_stb)
    if(NOT tinydiff_stb_POPULATED)
      FetchContent_Populate(tinydiff_stb)
    endif()
    set(TINYDIFF_STB_FETCHED_DIR "${tinydiff_stb_SOURCE_DIR}")
  endif()
endmacro()

# CLI11 (the examples' command lines): the target CLI11::CLI11 when Debian's libcli11-dev (or another
# CLI11 2 package) is installed. Building the examples never needs the network: without CLI11 the
# examples that parse command lines are left out (examples/CMakeLists.txt says so), unless
# TINYDIFF_FETCH_DEV_DEPS=ON asks CMake to download it.
macro(tinydiff_find_cli11)
  if(NOT TARGET CLI11::CLI11)
    find_package(CLI11 2 CONFIG QUIET)
  endif()
  if(NOT TARGET CLI11::CLI11 AND TINYDIFF_FETCH_DEV_DEPS)
    message(STATUS "tinydiff: CLI11 not found; fetching it (TINYDIFF_FETCH_DEV_DEPS=ON)")
    FetchContent_Declare(tinydiff_cli11
      URL https://github.com/CLIUtils/CLI11/archive/refs/tags/v2.3.2.tar.gz)
    FetchContent_GetProperties(tinydiff_cli11)
    if(NOT tinydiff_cli11_POPULATED)
      FetchContent_Populate(tinydiff_cli11)
    endif()
    add_library(CLI11::CLI11 INTERFACE IMPORTED GLOBAL)
    set_target_properties(CLI11::CLI11 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${tinydiff_cli11_SOURCE_DIR}/include")
  endif()
endmacro()
