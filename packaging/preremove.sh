#!/bin/sh
# iotd package: before removal (deb: remove, upgrade, ...; rpm: %preun,
# $1 = 0 on erase, 1 on upgrade). Stops the service unless upgrading.
set -e
case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl stop iotd.service || true
		systemctl disable iotd.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
