# Install layout (FHS through GNUInstallDirs) and the .deb (CPack). Included from the top
# CMakeLists.txt after the targets exist.
include(GNUInstallDirs)
# The project's commit identity (git log); a distributor passes its own.
set(MINITCP_DEB_MAINTAINER "MiniTCP maintainers <maintainers@users.noreply.r-seed-a52344f5.example>"
    CACHE STRING "Maintainer field of the .deb and its changelog")

# The unit: its ExecStart points at the installed daemon, under the prefix given at install
# time (cmake --install --prefix, or CPack's /usr).
set(MINITCP_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "systemd system unit directory, relative to the prefix")
install(CODE "
  file(READ \"${CMAKE_SOURCE_DIR}/systemd/minitcpd.service\" unit)
  string(REPLACE \"/usr/local/sbin/minitcpd\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SBINDIR}/minitcpd\"
         unit \"\${unit}\")
  file(WRITE \"${CMAKE_BINARY_DIR}/minitcpd.service\" \"\${unit}\")")
install(FILES ${CMAKE_BINARY_DIR}/minitcpd.service DESTINATION ${MINITCP_SYSTEMD_UNITDIR})
install(FILES ${CMAKE_SOURCE_DIR}/systemd/minitcp.sysusers DESTINATION lib/sysusers.d
        RENAME minitcp.conf)
# /etc/default/minitcpd is where the unit reads its options, whatever the prefix.
install(FILES ${CMAKE_SOURCE_DIR}/systemd/minitcpd.default DESTINATION /etc/default
        RENAME minitcpd)

# Man pages, gzip -9n (reproducible: no name or time in the header).
find_program(GZIP gzip REQUIRED)
foreach(page minitcpd.8 minitcpctl.8 minitcp.3 minitcp-run.1)
  string(REGEX REPLACE ".*\\." "" section ${page})
  configure_file(${CMAKE_SOURCE_DIR}/man/${page}.in ${CMAKE_BINARY_DIR}/man/${page} @ONLY)
  add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/man/${page}.gz
                     COMMAND ${GZIP} -9nf -k ${CMAKE_BINARY_DIR}/man/${page}
                     DEPENDS ${CMAKE_SOURCE_DIR}/man/${page}.in VERBATIM)
  list(APPEND man_gz ${CMAKE_BINARY_DIR}/man/${page}.gz)
  install(FILES ${CMAKE_BINARY_DIR}/man/${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
add_custom_target(man ALL DEPENDS ${man_gz})

# Documentation: README, copyright and changelog where Debian looks for them.
configure_file(${CMAKE_SOURCE_DIR}/packaging/changelog ${CMAKE_BINARY_DIR}/changelog @ONLY)
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/changelog.gz
                   COMMAND ${GZIP} -9nf -k ${CMAKE_BINARY_DIR}/changelog
                   DEPENDS ${CMAKE_SOURCE_DIR}/packaging/changelog VERBATIM)
add_custom_target(changelog ALL DEPENDS ${CMAKE_BINARY_DIR}/changelog.gz)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/packaging/copyright
              ${CMAKE_BINARY_DIR}/changelog.gz
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/minitcp)

# cpack -G DEB in the build directory builds minitcp_VERSION_ARCH.deb.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME minitcp)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "user-space TCP/IP stack daemon over a TUN device")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "MiniTCP runs IPv4, ICMP echo, UDP and TCP in user space on a Linux TUN\n device. The package holds the daemon (minitcpd) with its systemd unit,\n the control tool (minitcpctl), the client library with its header and\n pkg-config file, and example servers.")
set(CPACK_PACKAGE_CONTACT "${MINITCP_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${MINITCP_DEB_MAINTAINER}")
set(CPACK_RESOURCE_FILE_LICENSE ${CMAKE_SOURCE_DIR}/LICENSE) # MIT; the .deb carries it in copyright
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_SOURCE_DIR}/packaging/conffiles
    ${CMAKE_SOURCE_DIR}/packaging/postinst ${CMAKE_SOURCE_DIR}/packaging/triggers)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
