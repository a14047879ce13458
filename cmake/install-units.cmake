# Run by `cmake --install` (and CPack): installs the systemd units with the paths of this
# installation. The units in systemd/ name /usr/local (a build installed by hand); the prefix is
# known only now (CPack's is /usr), so they are rewritten here.
#   CLUSTERD_UNITS      the unit files, absolute
#   CLUSTERD_DOCDIR     the documentation directory, relative to the prefix
#   CLUSTERD_STAGING    where the rewritten units are written first, in the build directory (in
#                       a script, CMAKE_CURRENT_BINARY_DIR is whatever directory it was run from)
set(staging "${CLUSTERD_STAGING}")
file(MAKE_DIRECTORY "${staging}")
set(files "")
foreach(unit ${CLUSTERD_UNITS})
  get_filename_component(name "${unit}" NAME)
  file(READ "${unit}" text)
  string(REPLACE "/usr/local/bin/" "${CMAKE_INSTALL_PREFIX}/bin/" text "${text}")
  string(REPLACE "/usr/local/share/doc/clusterd" "${CMAKE_INSTALL_PREFIX}/${CLUSTERD_DOCDIR}"
                 text "${text}")
  file(WRITE "${staging}/${name}" "${text}")
  list(APPEND files "${staging}/${name}")
endforeach()
file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ FILES ${files})
