#!/usr/bin/env bash
# cmake --install into a DESTDIR: the exact file list in FHS places, the unit pointing at
# the installed daemon, man pages that render, a program built against the installed
# header and pkg-config file. Then cpack's .deb: its file list, and lintian (when
# installed) without errors. Usage: test_package.sh BUILD_DIR LIBDIR CC [CFLAGS]
# (CC and CFLAGS of the build: a sanitized library needs a sanitized program)
set -uo pipefail
BUILD=$1
LIBDIR=$2
CC=${3:-cc}
CFLAGS=${4:-}
TMP=$(mktemp -d /tmp/minitcp-package.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
check() {
    local desc=$1
    shift
    if "$@"; then echo "ok   - $desc"; else echo "FAIL - $desc"; FAILS=$((FAILS + 1)); fi
}

cat >"$TMP/expected" <<EOT
etc/default/minitcpd
usr/bin/minitcp-run
usr/bin/minitcpctl
usr/include/minitcp.h
usr/$LIBDIR/libminitcp-client.a
usr/$LIBDIR/libminitcp-client.so
usr/$LIBDIR/libminitcp-client.so.0
usr/$LIBDIR/libminitcp-client.so.0.1.0
usr/$LIBDIR/minitcp/libminitcp-preload.so
usr/$LIBDIR/pkgconfig/minitcp-client.pc
usr/lib/systemd/system/minitcpd.service
usr/lib/sysusers.d/minitcp.conf
usr/libexec/minitcp/chat_client
usr/libexec/minitcp/chat_server
usr/libexec/minitcp/discard_server
usr/libexec/minitcp/echo_server
usr/libexec/minitcp/source_server
usr/sbin/minitcpd
usr/share/doc/minitcp/README.md
usr/share/doc/minitcp/changelog.gz
usr/share/doc/minitcp/copyright
usr/share/man/man1/minitcp-run.1.gz
usr/share/man/man3/minitcp.3.gz
usr/share/man/man8/minitcpctl.8.gz
usr/share/man/man8/minitcpd.8.gz
EOT
sort -o "$TMP/expected" "$TMP/expected"
D=$TMP/dest
DESTDIR=$D cmake --install "$BUILD" --prefix /usr >"$TMP/install.log" 2>&1
check "cmake --install succeeds" test $? -eq 0
(cd "$D" && find . \( -type f -o -type l \) | sed 's#^\./##' | sort) >"$TMP/got"
echo "installed files:"
sed 's/^/  /' "$TMP/got"
check "installed file list is exactly the expected one" diff -u "$TMP/expected" "$TMP/got"
check "the unit starts the installed daemon" grep -q '^ExecStart=/usr/sbin/minitcpd ' "$D/usr/lib/systemd/system/minitcpd.service"
check "installed minitcp-run preloads the installed library" bash -c "
    out=\$('$D/usr/bin/minitcp-run' sh -c 'echo \$LD_PRELOAD'); echo \"\$out\"; [ \"\$out\" = '$D/usr/bin/../$LIBDIR/minitcp/libminitcp-preload.so' ]"
check "installed minitcpd --version" bash -c "'$D/usr/sbin/minitcpd' --version | grep -qx 'minitcpd [0-9.]*'"
for page in usr/share/man/man8/minitcpd.8.gz usr/share/man/man8/minitcpctl.8.gz usr/share/man/man3/minitcp.3.gz usr/share/man/man1/minitcp-run.1.gz; do
    check "$(basename "$page") renders without warnings" bash -c "
        out=\$(MANWIDTH=80 man --warnings -l '$D/$page' 2>&1 >/dev/null); echo \"\$out\"; [ -z \"\$out\" ] &&
        MANWIDTH=80 man -l '$D/$page' 2>/dev/null | grep -q 'SEE ALSO'"
done
cat >"$TMP/prog.c" <<'EOT'
#include <errno.h>
#include <minitcp.h>
#include <stdio.h>
int main(void)
{
    int s = minitcp_socket(MINITCP_SOCK_STREAM);
    printf("%d %d\n", s, s < 0 ? errno : 0);
    return 0;
}
EOT
check "a program builds with pkg-config against the installed header and library" bash -c "
    PKG_CONFIG_PATH='$D/usr/$LIBDIR/pkgconfig' '$CC' $CFLAGS -o '$TMP/prog' '$TMP/prog.c' \$(PKG_CONFIG_PATH='$D/usr/$LIBDIR/pkgconfig' pkg-config --cflags --libs minitcp-client) &&
    out=\$(MINITCP_SOCKET='$TMP/none.sock' LD_LIBRARY_PATH='$D/usr/$LIBDIR' '$TMP/prog'); echo \"\$out\"; [ \"\$out\" = \"-1 $(printf '%d' 2)\" ]"

# The .deb
if (cd "$BUILD" && cpack -G DEB -B "$TMP/deb") >"$TMP/cpack.log" 2>&1; then
    DEB=$(ls "$TMP"/deb/minitcp_*.deb)
    check "cpack built one .deb" test -f "$DEB"
    dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's#^\./##' | grep -v '/$' | sort >"$TMP/deb_files"
    check ".deb file list is exactly the installed one" diff -u "$TMP/expected" "$TMP/deb_files"
    check ".deb control: package, depends, conffile" bash -c "
        dpkg-deb -f '$DEB' Package Version Depends; dpkg-deb -f '$DEB' Package | grep -qx minitcp &&
        dpkg-deb -f '$DEB' Depends | grep -q libev4 && dpkg-deb -I '$DEB' conffiles | grep -qx /etc/default/minitcpd"
    check ".deb: a maintainer with an address, the MIT (Expat) license in its copyright" bash -c "
        dpkg-deb -f '$DEB' Maintainer; dpkg-deb -f '$DEB' Maintainer | grep -qE '^[^<>]+ <[^<>@ ]+@[^<>@ ]+\.[a-z]+>\$' &&
        dpkg-deb --fsys-tarfile '$DEB' | tar -xO ./usr/share/doc/minitcp/copyright > '$TMP/copyright' &&
        grep -qx 'License: Expat' '$TMP/copyright' && ! grep -qi undeclared '$TMP/copyright' &&
        grep -q 'Permission is hereby granted, free of charge' '$TMP/copyright'"
    if command -v lintian >/dev/null; then
        lintian --allow-root "$DEB" >"$TMP/lintian.txt" 2>&1
        cat "$TMP/lintian.txt"
        check "lintian: no errors" bash -c "! grep -q '^E:' '$TMP/lintian.txt'"
    else
        echo "lintian not installed: skipped (scripts/bootstrap.sh installs it)"
    fi
else
    cat "$TMP/cpack.log"
    check "cpack -G DEB" false
fi
echo "package: $FAILS failed"
[ "$FAILS" -eq 0 ]
