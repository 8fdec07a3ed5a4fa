# Cross-compiling for 64-bit ARM Linux with Debian's cross toolchain; the programs run under
# QEMU's user-mode emulator, so that the whole test suite can be built and run for aarch64 on an
# x86-64 machine:
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
#   cmake --build build-aarch64 && ctest --test-dir build-aarch64
# (scripts/test.sh --aarch64 does all of this; scripts/deps.sh test --aarch64 installs the
# packages: g++-aarch64-linux-gnu, qemu-user-static and the arm64 zlib1g-dev through Debian
# multiarch.)
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(tinydiff_cross_triple aarch64-linux-gnu)
find_program(TINYDIFF_CROSS_CXX ${tinydiff_cross_triple}-g++)
if(NOT TINYDIFF_CROSS_CXX)
  message(FATAL_ERROR "${tinydiff_cross_triple}-g++ not found: install the cross compiler "
                      "(Debian/Ubuntu: apt-get install g++-aarch64-linux-gnu), or run scripts/deps.sh test --aarch64.")
endif()
set(CMAKE_CXX_COMPILER ${TINYDIFF_CROSS_CXX})
# Debian's multiarch folder name, so that find_library looks in /usr/lib/aarch64-linux-gnu
# (where the arm64 zlib1g-dev puts libz.so) and never in the host's x86_64-linux-gnu.
set(CMAKE_LIBRARY_ARCHITECTURE ${tinydiff_cross_triple})

# Where target files are searched: the cross toolchain's own tree (libc, libstdc++, libgomp)
# and the host root, whose multiarch folders hold the arm64 packages.
set(CMAKE_FIND_ROOT_PATH /usr/${tinydiff_cross_triple} /)
# Programs (python3 with torch, which writes the parity fixtures) run on the build machine.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
# Libraries must be arm64 ones: only the roots above, in their aarch64 folders.
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
# Headers and the CMake packages of header-only libraries (Eigen, nlohmann-json, doctest, CLI11,
# stb) are the same for every architecture: the host's /usr/include and /usr/share copies do.
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# CTest (and try_run) start the test programs through QEMU; -L makes QEMU find the aarch64
# dynamic loader and libraries of the cross toolchain (libc, libstdc++, libgomp) under that prefix.
# LD_LIBRARY_PATH puts that folder first for the loader too: otherwise it takes the libc.so.6 of
# the multiarch libc6:arm64 (which zlib1g:arm64 depends on) from /lib/aarch64-linux-gnu, a
# different glibc build than the cross toolchain's loader, and the pair hangs in pthread_create
# (Debian 12: loader 2.36-8cross1, libc 2.36-9+deb12u14). libz.so.1 still comes from there.
find_program(TINYDIFF_QEMU_AARCH64 qemu-aarch64-static)
if(NOT TINYDIFF_QEMU_AARCH64)
  message(FATAL_ERROR "qemu-aarch64-static not found: the aarch64 test programs cannot run on this machine. "
                      "Install it (Debian/Ubuntu: apt-get install qemu-user-static), or run scripts/deps.sh test --aarch64.")
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR ${TINYDIFF_QEMU_AARCH64} -L /usr/${tinydiff_cross_triple}
    -E LD_LIBRARY_PATH=/usr/${tinydiff_cross_triple}/lib)
