#!/bin/sh
# iotd package: after removal (deb: remove, purge, upgrade, ...; rpm:
# %postun, $1 = 0 on erase, 1 on upgrade).
#
# purge (deb) deletes the state in /var/lib/iotd (the outbox, OTA
# checkpoints) and /run/iotd. It keeps the system user iotd, as Debian
# does for users a package created (files it owned may remain, and a uid
# reused by another user would inherit them), and leaves files you added
# to /etc/iotd (device_info.json: dpkg names the directory it could not
# remove). remove, and rpm's erase, keep the state.
set -e
case "$1" in
purge)
	rm -rf /var/lib/iotd /run/iotd
	;;
esac
case "$1" in
remove | purge | 0)
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload || true
	fi
	if command -v udevadm >/dev/null 2>&1 && [ -d /run/udev ]; then
		udevadm control --reload-rules || true
	fi
	;;
esac
exit 0
