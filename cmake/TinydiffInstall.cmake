# Install rules: the headers, the exported target and a package config, so that
#   find_package(tinydiff CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE tinydiff::tinydiff)
# works against an installed copy.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

if(TINYDIFF_EIGEN_FETCHED)
  message(WARNING "tinydiff: Eigen was fetched, not found; the installed package will look for Eigen3 "
                  "with find_package, so install Eigen 3.4 on the system before using it.")
endif()

install(DIRECTORY include/tinydiff DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS tinydiff EXPORT tinydiffTargets)
set(TINYDIFF_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/tinydiff)
install(EXPORT tinydiffTargets NAMESPACE tinydiff:: DESTINATION ${TINYDIFF_CMAKE_DIR})
configure_package_config_file(cmake/tinydiffConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/tinydiffConfig.cmake INSTALL_DESTINATION ${TINYDIFF_CMAKE_DIR})
# A header-only library has no ABI: any compiler may use it, so the version file ignores the architecture.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/tinydiffConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tinydiffConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/tinydiffConfigVersion.cmake
  DESTINATION ${TINYDIFF_CMAKE_DIR})
