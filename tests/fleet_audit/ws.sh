#!/bin/sh
# ws.sh HOST SOCK CMD... - run CMD as workstation HOST whose syslog is the
# socket SOCK (a test's own rsyslogd).  Run it under unshare -m --uts: the
# host name and the mounts below are this namespace's only; /dev gets a
# private tmpfs holding the few devices a program needs and /dev/log as a
# link to SOCK, so the machine's /dev/log is neither used nor touched.
set -e
host=$1 sock=$2; shift 2
mount --make-rprivate /
old=$(mktemp -d)
mount --rbind /dev "$old"
mount -t tmpfs -o mode=0755 ward-dev /dev
for f in null zero full random urandom; do : > /dev/$f; mount --bind "$old/$f" /dev/$f; done
ln -s /proc/self/fd /dev/fd
ln -s "$sock" /dev/log
umount -l "$old"; rmdir "$old"
hostname "$host"
exec "$@"
