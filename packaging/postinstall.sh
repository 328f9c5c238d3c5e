#!/bin/sh
# iotd package: after unpacking (deb: configure; rpm: %post, $1 = 1 on
# install, 2 on upgrade). Creates the system user iotd (in dialout, for
# the serial ports), the state directory and the config's group.
set -e

if ! getent passwd iotd >/dev/null; then
	# useradd (Debian's passwd, Fedora's shadow-utils) is on every base
	# system; Debian's adduser is not.
	useradd --system --user-group --home-dir /var/lib/iotd --no-create-home \
		--shell /usr/sbin/nologin --comment "iotd daemon" iotd
fi
if getent group dialout >/dev/null; then
	usermod -a -G dialout iotd
fi

# The state: iotd's alone (systemd's StateDirectory= keeps it so too).
mkdir -p /var/lib/iotd
chown iotd:iotd /var/lib/iotd
chmod 0700 /var/lib/iotd
# The configuration and the device's identity beside it: readable by iotd,
# writable by root only.
chown root:iotd /etc/iotd /etc/iotd/iotd.yaml
chmod 0750 /etc/iotd
chmod 0640 /etc/iotd/iotd.yaml

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	# An upgrade restarts a running iotd on the new binary.
	systemctl try-restart iotd.service || true
fi
if command -v udevadm >/dev/null 2>&1 && [ -d /run/udev ]; then
	udevadm control --reload-rules || true
	udevadm trigger --subsystem-match=tty --subsystem-match=usb --action=change || true
fi
exit 0
