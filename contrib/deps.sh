# deps.sh - install the Debian packages beredd needs to build and test
# (sourced by demo.sh and run-tests.sh). Installs only what is missing, so a
# machine that has everything needs no network.
# shellcheck shell=sh
BEREDD_BUILD_DEPS="gcc make autoconf automake libtool pkg-config libsystemd-dev libcurl4-openssl-dev libconfig-dev libmosquitto-dev libjansson-dev libssl-dev libmicrohttpd-dev"
# Node.js and npm (for tests/node) are not listed: the machines this runs on
# have NodeSource's nodejs package, which conflicts with Debian's npm.
BEREDD_TEST_DEPS="libcmocka-dev mosquitto mosquitto-clients python3 python3-aiosmtpd systemd clang llvm valgrind util-linux groff-base man-db openssl chromium prometheus stress-ng prometheus-alertmanager"

beredd_install_deps() {
        missing=""
        for p in "$@"; do
                dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
        done
        [ -z "$missing" ] && return 0
        if [ "$(id -u)" -ne 0 ]; then
                if command -v sudo >/dev/null; then SUDO=sudo; else
                        echo "Missing Debian packages:$missing -- run this as root." >&2; return 1
                fi
        fi
        echo "Installing Debian packages:$missing"
        ${SUDO:-} apt-get update -qq
        DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -qq --no-install-recommends $missing
}
