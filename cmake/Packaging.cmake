# Install rules and the Debian package (issue 22): `make package` runs cpack
# on the Release build and writes cardbureau_<version>_amd64.deb.
#
# Layout (Debian): /usr/bin/cardbureau, /usr/share/cardbureau/{web,templates},
# /usr/share/doc/cardbureau, /etc/cardbureau/serve.json (a conffile),
# /lib/systemd/system/cardbureau.service. The executable finds its shared
# files from its own location at run time (core/include/cardbureau/core/
# share_dir.h), so an install under any prefix (or a DESTDIR copy) works.

# `cardbureau --version`: the version and the git commit of the source tree,
# computed at configure time; "unknown" when the source is not a git checkout
# of its own (a tarball unpacked inside another repository counts as none).
set(CARDBUREAU_GIT_COMMIT "unknown")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} -C ${CARDBUREAU_SOURCE_DIR} rev-parse --show-toplevel
    OUTPUT_VARIABLE _cb_git_top RESULT_VARIABLE _cb_git_rc ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(_cb_git_rc EQUAL 0)
    file(REAL_PATH "${_cb_git_top}" _cb_git_top)
    file(REAL_PATH "${CARDBUREAU_SOURCE_DIR}" _cb_src_real)
    if(_cb_git_top STREQUAL _cb_src_real)
      execute_process(COMMAND ${GIT_EXECUTABLE} -C ${CARDBUREAU_SOURCE_DIR} rev-parse --short=12 HEAD
        OUTPUT_VARIABLE _cb_git_commit RESULT_VARIABLE _cb_git_rc ERROR_QUIET
        OUTPUT_STRIP_TRAILING_WHITESPACE)
      if(_cb_git_rc EQUAL 0 AND _cb_git_commit)
        set(CARDBUREAU_GIT_COMMIT "${_cb_git_commit}")
      endif()
    endif()
  endif()
endif()
target_compile_definitions(cardbureau PRIVATE CARDBUREAU_GIT_COMMIT="${CARDBUREAU_GIT_COMMIT}")
# For tests/package (configured before this file is included).
file(WRITE ${CMAKE_BINARY_DIR}/packaging/git-commit "${CARDBUREAU_GIT_COMMIT}\n")

# Paths. The package's prefix is /usr; its configuration and unit go to
# /etc/cardbureau and /lib/systemd/system (Debian 12) whatever the build's
# CMAKE_INSTALL_PREFIX. `cmake --install build --prefix P` puts the binary,
# share/cardbureau and share/doc under P (the binary finds P/share/cardbureau);
# stage a whole tree with DESTDIR: `DESTDIR=/tmp/root cmake --install build`.
include(GNUInstallDirs)
set(CARDBUREAU_CONF_DIR "/etc/cardbureau" CACHE PATH "configuration directory (installed)")
set(CARDBUREAU_SYSTEMD_UNIT_DIR "/lib/systemd/system" CACHE PATH "systemd system unit directory")
set(CARDBUREAU_SHARE_DIR_REL "${CMAKE_INSTALL_DATADIR}/cardbureau")
set(CARDBUREAU_DOC_DIR_REL "${CMAKE_INSTALL_DATADIR}/doc/cardbureau")
set(_pkg ${CARDBUREAU_SOURCE_DIR}/packaging)

install(TARGETS cardbureau RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${CARDBUREAU_SOURCE_DIR}/web/ DESTINATION ${CARDBUREAU_SHARE_DIR_REL}/web)
install(DIRECTORY ${CARDBUREAU_SOURCE_DIR}/layout/templates/
  DESTINATION ${CARDBUREAU_SHARE_DIR_REL}/templates)
install(FILES ${_pkg}/serve.json DESTINATION ${CARDBUREAU_CONF_DIR})
install(FILES ${_pkg}/cardbureau.service DESTINATION ${CARDBUREAU_SYSTEMD_UNIT_DIR})
install(FILES ${CARDBUREAU_SOURCE_DIR}/README.md ${_pkg}/copyright
  DESTINATION ${CARDBUREAU_DOC_DIR_REL})
install(DIRECTORY ${CARDBUREAU_SOURCE_DIR}/docs/ DESTINATION ${CARDBUREAU_DOC_DIR_REL}
  FILES_MATCHING PATTERN "*.md")

# CPack: one Debian package. Depends comes from dpkg-shlibdeps (the shared
# libraries the binary links) plus what the program opens by path at run
# time; fonts and the PC/SC daemon are Recommends (a bureau may render on one
# host and encode on another).
# Installing (and cpack, which installs through the `preinstall` target)
# never builds: `make package` builds the executable first, and the package
# test runs cpack inside `make test` without rebuilding the whole tree.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "cardbureau")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "cardbureau")
set(CPACK_PACKAGE_CONTACT "cardbureau maintainers <cardbureau@example.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "smart-card print bureau server (student cards)")
set(CPACK_PACKAGE_DESCRIPTION
  "cardbureau pulls confirmed card jobs from a city card centre over ZeroMQ,\n\
stores them in SQLite, validates fields and photos, renders both card faces\n\
and proof PDFs, encodes the student sectors of MIFARE Classic chips through\n\
PC/SC readers, verifies each card and reports back exactly once. Includes the\n\
operator dashboard and a hardened systemd service.")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT")
set(CPACK_DEBIAN_PACKAGE_SECTION "misc")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_COMPRESSION_TYPE "xz")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# adduser: postinst; opencv-data: the face-detection cascade
# (/usr/share/opencv4/haarcascades) the validator opens by path.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, opencv-data")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS
  "fonts-noto-cjk, fonts-hanazono, fonts-wqy-zenhei, pcscd, vsmartcard-vpcd")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "cups-client, opensc")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${_pkg}/debian/conffiles ${_pkg}/debian/postinst ${_pkg}/debian/prerm ${_pkg}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
