#!/usr/bin/env bash
# Installs, upgrades, removes and purges iotd's amd64 .deb on this machine
# with dpkg, checking what each step leaves (issue 17 item 1). Runs as root
# on Debian (CI: .ci/run); systemd need not be running. It refuses to run
# where an iotd package is already installed, or /etc/iotd or /var/lib/iotd
# exist (it deletes them when done).
#   1. build two versions of the .deb (scripts/package.sh)
#   2. install the first: files, owners, modes, the user iotd in dialout;
#      the unit passes systemd-analyze verify; the installed binary, as
#      iotd, accepts the packaged config
#   3. edit /etc/iotd/iotd.yaml, install the second: the edit survives
#   4. remove: the config and the state stay; purge: both go, the user
#      stays (Debian policy); files the admin added to /etc/iotd stay
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test-package: run as root (it installs a package)" >&2; exit 2; }
command -v dpkg >/dev/null || { echo "test-package: needs dpkg" >&2; exit 2; }
if dpkg-query -W -f '${Status}' iotd 2>/dev/null | grep -q installed; then
  echo "test-package: an iotd package is installed here; remove it first (dpkg -P iotd)" >&2
  exit 2
fi
if [ -e /etc/iotd ] || [ -e /var/lib/iotd ]; then
  echo "test-package: /etc/iotd or /var/lib/iotd exists here (an iotd installed by hand?); it would be deleted: move it away first" >&2
  exit 2
fi
user_existed=no
getent passwd iotd >/dev/null && user_existed=yes

out=$(mktemp -d /tmp/iotd-pkg.XXXXXX)
cleanup() {
  dpkg -P iotd >/dev/null 2>&1 || true
  rm -rf /etc/iotd "$out"
  if [ $user_existed = no ] && getent passwd iotd >/dev/null; then userdel iotd || true; fi
}
trap cleanup EXIT

fails=0 checks=0
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  checks=$((checks + 1))
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}
mode_is() { [ "$(stat -c '%U:%G %a' "$1")" = "$2" ] || { echo "     $1 is $(stat -c '%U:%G %a' "$1"), want $2"; return 1; }; }

echo "== build"
DIST=$out PKG_FORMATS=deb PKG_VERSION=0.0.1~test1 ./scripts/package.sh amd64
DIST=$out PKG_FORMATS=deb PKG_VERSION=0.0.1~test2 ./scripts/package.sh amd64
v1=$out/iotd_0.0.1~test1_amd64.deb v2=$out/iotd_0.0.1~test2_amd64.deb

echo "== install 0.0.1~test1"
dpkg -i "$v1"
check "iotd 0.0.1~test1 installed" test "$(dpkg-query -W -f '${Version}' iotd)" = 0.0.1~test1
check "/usr/bin/iotd root:root 755" mode_is /usr/bin/iotd "root:root 755"
check "/usr/bin/iotd runs" sh -c '/usr/bin/iotd --help >/dev/null'
check "/etc/iotd root:iotd 750" mode_is /etc/iotd "root:iotd 750"
check "/etc/iotd/iotd.yaml root:iotd 640" mode_is /etc/iotd/iotd.yaml "root:iotd 640"
check "/etc/iotd/iotd.yaml is a conffile" sh -c "dpkg-query -W -f '\${Conffiles}' iotd | grep -q ' /etc/iotd/iotd.yaml '"
check "/var/lib/iotd iotd:iotd 700" mode_is /var/lib/iotd "iotd:iotd 700"
check "unit root:root 644" mode_is /usr/lib/systemd/system/iotd.service "root:root 644"
check "udev rules root:root 644" mode_is /usr/lib/udev/rules.d/60-iotd-modems.rules "root:root 644"
check "system user iotd" sh -c 'uid=$(id -u iotd) && [ "$uid" -lt 1000 ]'
check "iotd cannot log in" sh -c 'getent passwd iotd | grep -q ":/usr/sbin/nologin$"'
check "iotd is in dialout" sh -c 'id -nG iotd | tr " " "\n" | grep -qx dialout'
check "config names the packaged paths" sh -c 'grep -q "^state_dir: /var/lib/iotd$" /etc/iotd/iotd.yaml && grep -q "^socket: /run/iotd/iotd.sock" /etc/iotd/iotd.yaml'

# The unit: verify must print nothing (it works without systemd running).
if command -v systemd-analyze >/dev/null; then
  verify=$(systemd-analyze verify /usr/lib/systemd/system/iotd.service 2>&1) || true
  check "systemd-analyze verify iotd.service is clean" test -z "$verify"
  [ -z "$verify" ] || echo "$verify"
  systemd-analyze security --offline=yes /usr/lib/systemd/system/iotd.service 2>/dev/null | tail -1 || true
else
  check "systemd-analyze is installed (apt-get install systemd)" false
fi

# The daemon, as the unit runs it (user iotd), accepts the packaged file.
cat >/etc/iotd/device_info.json <<'JSON'
{"auth_mode": "KEY", "productId": "PKGTEST001", "deviceName": "board1",
 "key_deviceinfo": {"deviceSecret": "cGtndGVzdHNlY3JldA=="}}
JSON
chown root:iotd /etc/iotd/device_info.json
chmod 0640 /etc/iotd/device_info.json
check "iotd run --check, as iotd, accepts /etc/iotd/iotd.yaml" \
  runuser -u iotd -- /usr/bin/iotd run --check --config /etc/iotd/iotd.yaml

echo "== edit the config, upgrade to 0.0.1~test2"
sed -i 's/^  level: info /  level: debug/' /etc/iotd/iotd.yaml
echo "# edited by test-package.sh" >>/etc/iotd/iotd.yaml
dpkg -i --force-confdef --force-confold "$v2"
check "iotd 0.0.1~test2 installed" test "$(dpkg-query -W -f '${Version}' iotd)" = 0.0.1~test2
check "the edited config survived the upgrade" sh -c 'grep -q "^  level: debug" /etc/iotd/iotd.yaml && grep -q "^# edited by test-package.sh$" /etc/iotd/iotd.yaml'
check "no .dpkg-new or .dpkg-dist beside it" sh -c '! ls /etc/iotd/iotd.yaml.dpkg-* 2>/dev/null'
check "/etc/iotd/iotd.yaml still root:iotd 640" mode_is /etc/iotd/iotd.yaml "root:iotd 640"
check "/var/lib/iotd still iotd:iotd 700" mode_is /var/lib/iotd "iotd:iotd 700"

echo "== remove"
touch /var/lib/iotd/outbox.db
dpkg -r iotd
check "/usr/bin/iotd removed" test ! -e /usr/bin/iotd
check "unit removed" test ! -e /usr/lib/systemd/system/iotd.service
check "udev rules removed" test ! -e /usr/lib/udev/rules.d/60-iotd-modems.rules
check "remove keeps the config" test -f /etc/iotd/iotd.yaml
check "remove keeps the state" test -f /var/lib/iotd/outbox.db

echo "== purge"
dpkg -P iotd
check "purge removes the config" test ! -e /etc/iotd/iotd.yaml
check "purge removes the state" test ! -e /var/lib/iotd
check "purge keeps the admin's device_info.json" test -f /etc/iotd/device_info.json
check "purge keeps the user iotd (Debian policy)" getent passwd iotd
check "dpkg knows no iotd" sh -c "! dpkg-query -W -f '\${Status}' iotd 2>/dev/null | grep -q installed"

echo "test-package: $((checks - fails)) passed, $fails failed"
[ $fails = 0 ]
