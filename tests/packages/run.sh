#!/bin/bash
# run.sh DEBDIR - test the Debian packages in DEBDIR (make deb's output) the
# way a sysadmin rolls them out (docs/PACKAGING.md, "make check-packages"):
#   1. lintian: no error, no warning;
#   2. piuparts in a clean Debian 12 chroot: install and purge; the
#      install-upgrade-purge test, from these packages (served by a local
#      apt repository) to a re-versioned copy of them; install, remove and
#      install again;
#   3. login.sh in a fresh chroot: install, enable the profile, enrol, log
#      in with pamtester and oathtool, upgrade, remove, purge;
#   4. systemd.sh in a Debian 12 container booted by systemd-nspawn: the
#      same with systemd as PID 1 (socket activation, restart on upgrade,
#      stop on remove) and systemd-analyze security of wardd.service.
# Needs root, systemd-nspawn and the Debian mirror of
# /etc/apt/sources.list*.  Chroots and the container's tree go
# under /var/tmp/ward-pkg-*, inside private mount namespaces, and are
# removed at the end; the debootstrapped base is kept as
# /var/tmp/ward-pkg-base.tgz for the next run (delete it to refresh).
set -euo pipefail

DEBS=$(cd "${1:?usage: run.sh DEBDIR}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
BASE=/var/tmp/ward-pkg-base.tgz
DIST=bookworm
NEW_SUFFIX=+pkgtest1

[ "$(id -u)" -eq 0 ] || { echo "check-packages: needs root (chroots)" >&2; exit 2; }

# The Debian mirror this machine uses (deb822 .sources first, then the
# one-line format); the security suite is not a mirror of the release.
mirror=$(awk '/^URIs:/ { u = $2 } /^Suites:/ && / '"$DIST"'( |$)/ && u != "" { print u; exit }
    /^$/ { u = "" }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "'"$DIST"'" { print $2; exit }' \
    /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { echo "check-packages: no $DIST mirror in /etc/apt/sources.list*" >&2; exit 2; }
echo "check-packages: mirror $mirror ($DIST)"

WORK=$(mktemp -d /var/tmp/ward-pkg-XXXXXX)
cleanup() {
	# every mount was made in a private namespace; refuse to delete a tree
	# that something still mounts on (never happens unless a namespace leaked)
	if grep -q " $WORK" /proc/mounts; then
		echo "check-packages: mounts left under $WORK; not removing it" >&2
		return
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

if [ ! -s "$BASE" ]; then
	echo "check-packages: debootstrap $DIST into $BASE (once)"
	debootstrap --variant=minbase "$DIST" "$WORK/base" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
		{ tail -20 "$WORK/debootstrap.log"; exit 1; }
	tar -C "$WORK/base" -czf "$BASE.tmp" . && mv "$BASE.tmp" "$BASE"
	rm -rf "$WORK/base"
fi

PKGS="libpam-ward wardd ward-tools libward-policy-dev"
VER=$(dpkg-deb -f "$DEBS/wardd_"*.deb Version)
OLD="$WORK/old" NEW="$WORK/new"
mkdir -p "$OLD" "$NEW"
for p in $PKGS; do cp "$DEBS/${p}_${VER}_"*.deb "$OLD/"; done

# The upgrade's target: the same packages, re-versioned VER+pkgtest1 (the
# maintainer scripts see a real upgrade; the contents are the same).
for f in "$OLD"/*.deb; do
	d="$WORK/x"
	rm -rf "$d" && dpkg-deb -R "$f" "$d"
	sed -i -e "s/^Version: .*/Version: $VER$NEW_SUFFIX/" \
	    -e "s/(= $VER)/(= $VER$NEW_SUFFIX)/g" "$d/DEBIAN/control"
	dpkg-deb --root-owner-group -b "$d" "$NEW/" >/dev/null
	rm -rf "$d"
done
(cd "$OLD" && dpkg-scanpackages --multiversion . /dev/null 2>/dev/null > Packages)

echo "==== 1. lintian"
rc=0
lintian --fail-on error,warning "$DEBS"/ward_"$VER"_*.changes >"$WORK/lintian.log" 2>&1 || rc=$?
grep -v 'running with root' "$WORK/lintian.log" || true
[ "$rc" -eq 0 ] || { echo "check-packages: lintian FAILED"; exit 1; }
echo "lintian: no error or warning"

# Run a: install and purge; then the install-upgrade-purge test (VER from
# the local repository, upgraded to these files), nothing left behind.
# Run b (--install-remove-install): install, remove, install again in the
# config-files-remaining state (keys kept: the postinst adds its note).
for run in a b; do
	opts=""
	[ "$run" = b ] && opts="--install-remove-install --no-install-purge-test"
	echo "==== 2$run. piuparts ${opts:-install/purge, upgrade $VER -> $VER$NEW_SUFFIX, purge}"
	# shellcheck disable=SC2086
	if ! unshare -m --propagation private \
	    piuparts -b "$BASE" -d "$DIST" -m "$mirror" -t "$WORK" $opts \
	    --bindmount="$OLD" --extra-repo="deb [trusted=yes] file://$OLD ./" \
	    "$NEW"/*.deb >"$DEBS/piuparts-$run.log" 2>&1; then
		grep -E 'ERROR|FAIL' "$DEBS/piuparts-$run.log" | head -40
		tail -40 "$DEBS/piuparts-$run.log"
		echo "check-packages: piuparts FAILED (log above)"
		exit 1
	fi
	grep -E "INFO: PASS|Setting up wardd|Removing wardd|wardd: purge" "$DEBS/piuparts-$run.log" || true
	echo "(the whole log: $DEBS/piuparts-$run.log)"
done

echo "==== 3. install to login"
mkdir "$WORK/login"
tar -C "$WORK/login" -xzf "$BASE"
unshare -m -u --propagation private "$HERE/login.sh" "$WORK/login" "$OLD" "$NEW" "$VER" \
    "$VER$NEW_SUFFIX"

echo "==== 4. under systemd (systemd-nspawn --boot)"
"$HERE/systemd.sh" "$WORK" "$BASE" "$OLD" "$NEW" "$VER" "$VER$NEW_SUFFIX"
echo "check-packages: all passed"
