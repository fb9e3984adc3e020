#!/bin/sh
# install-deps.sh - install the Debian 12 packages Ward needs to build, test,
# run the demo and the benchmarks.  Prints what it installs before it does.
#   contrib/install-deps.sh          install what is missing (needs root)
#   contrib/install-deps.sh --check  exit 0 if nothing is missing, 1 otherwise
#   contrib/install-deps.sh --deb [--check]   the same for the packaging set
#                                    (make deb, make check-packages) instead
set -eu

deb=0 check=0
for a in "$@"; do
	case "$a" in
	--deb) deb=1 ;;
	--check) check=1 ;;
	*) echo "usage: install-deps.sh [--deb] [--check]" >&2; exit 2 ;;
	esac
done

# library headers (see README "Dependencies")
PKGS="build-essential pkg-config libpam0g-dev liboath-dev libldap-dev libconfig-dev
libcunit1-dev libssl-dev liblmdb-dev libqrencode-dev libsystemd-dev"
# tests: directory server, PAM harness, independent TOTP, man page rendering, fuzzing,
# valgrind over the PAM tests, systemd-socket-activate for wardd's activation test
PKGS="$PKGS systemd slapd ldap-utils libpam-wrapper pamtester oathtool man-db groff-base
clang libclang-rt-14-dev openssl lmdb-utils valgrind xxd procps"
# static analysis in make check: cppcheck, clang-tidy, scan-build (clang-tools)
PKGS="$PKGS cppcheck clang-tidy clang-tools"
# benchmark anchors; strace counts the flushes of a login (bench/run-20-pam.sh)
PKGS="$PKGS libpam-oath libpam-google-authenticator libpam-modules strace"
# tests/clients: the real login programs with the contrib stacks, run in a
# private mount namespace: the suite runs its own sshd on a free loopback
# port (installing openssh-server where systemd runs also enables the
# system's sshd on port 22; the suite neither uses nor touches it), sudo;
# pamtester (above) is the screen locker
PKGS="$PKGS openssh-server openssh-client sudo"
# tests/fleet_audit: audit records forwarded for real, two rsyslogd (a
# workstation's and a collector's, TLS through the gnutls driver) on loopback
# with the contrib/system configs; each runs in the foreground as the test's
# child with its own config, port and folders (no service is started: the
# suite never uses the machine's syslog or /dev/log)
PKGS="$PKGS rsyslog rsyslog-gnutls"
# tests/fleet_audit: the HTML fleet report is opened in a real browser
# (headless Chromium, as nobody, without a network) to show it renders with
# no console error and fetches nothing
PKGS="$PKGS chromium-headless-shell"

# --deb: building and testing the Debian packages (docs/PACKAGING.md):
# debhelper and dpkg-dev build them (dpkg-buildpackage), devscripts for
# debchange and the checks around it, lintian checks them, piuparts
# installs, upgrades and purges them in a clean chroot that debootstrap
# makes; systemd-container's systemd-nspawn boots a Debian 12 container
# with systemd as its PID 1, where the units' enable, start, socket
# activation, restart and stop run for real (tests/packages/systemd.sh);
# the build needs the library headers above (build-essential, pkg-config
# and the -dev packages of the first line)
DEB_PKGS="build-essential pkg-config libpam0g-dev liboath-dev libldap-dev libconfig-dev
libssl-dev liblmdb-dev libqrencode-dev libsystemd-dev
debhelper dpkg-dev devscripts lintian piuparts debootstrap systemd-container"
[ "$deb" -eq 1 ] && PKGS=$DEB_PKGS

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

if [ "$check" -eq 1 ]; then
	[ -z "$missing" ] && exit 0
	echo "missing Debian packages:$missing" >&2
	exit 1
fi

if [ -z "$missing" ]; then
	echo "install-deps: all Debian packages present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: these packages are missing:$missing" >&2
	echo "install-deps: run as root: apt-get install$missing" >&2
	exit 1
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# slapd: no interactive questions; the tests run their own throwaway servers
echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
echo "install-deps: done"
