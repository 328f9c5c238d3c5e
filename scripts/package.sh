#!/usr/bin/env bash
# Builds iotd's packages into dist/ (`make package`): a .deb and an .rpm
# (nfpm, packaging/nfpm.yaml) for each architecture named (default: amd64
# arm64 armv7 riscv64), and a tarball for mipsle (OpenWrt-class boards:
# no systemd, no dpkg/rpm). Each holds /usr/bin/iotd (static), the packaged
# /etc/iotd/iotd.yaml (packaging/mkconfig), and for deb/rpm the systemd
# unit and the udev rules.
#   PKG_VERSION  the packages' version (default from git: 0.0.0+gitN.HASH)
#   PKG_FORMATS  deb rpm (default both)
#   NFPM         the nfpm command (default: go run, pinned)
#   DIST         the output directory (default dist)
#   TAGS         build tags (the Makefile passes its own)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
DIST=${DIST:-dist}
NFPM=${NFPM:-"$GO run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0"}
if [ -z "${PKG_VERSION:-}" ]; then
  PKG_VERSION="0.0.0+git$(git rev-list --count HEAD 2>/dev/null || echo 0).$(git rev-parse --short HEAD 2>/dev/null || echo dev)"
fi
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
LDFLAGS="-s -w -X github.com/iotd/iotd/daemon.Version=$VERSION"
formats=${PKG_FORMATS:-deb rpm}
arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(amd64 arm64 armv7 riscv64 mipsle)

mkdir -p "$DIST/pkg"
$GO run ./packaging/mkconfig "$DIST/pkg/iotd.yaml"
for a in "${arches[@]}"; do
  goenv=(GOARCH="$a") nfarch=$a
  case $a in
  armv7) goenv=(GOARCH=arm GOARM=7) nfarch=arm7 ;;
  mipsle) goenv=(GOARCH=mipsle GOMIPS=softfloat) ;;
  amd64 | arm64 | riscv64) ;;
  *) echo "package: unknown architecture $a" >&2; exit 2 ;;
  esac
  stage=$DIST/pkg/$a
  mkdir -p "$stage"
  env CGO_ENABLED=0 GOOS=linux "${goenv[@]}" $GO build -trimpath -tags "${TAGS:-}" -ldflags "$LDFLAGS" -o "$stage/iotd" ./cmd/iotd
  cp "$DIST/pkg/iotd.yaml" "$stage/iotd.yaml"
  if [ "$a" = mipsle ]; then
    root=$stage/root
    rm -rf "$root"
    install -D -m 0755 "$stage/iotd" "$root/usr/bin/iotd"
    install -D -m 0640 "$stage/iotd.yaml" "$root/etc/iotd/iotd.yaml"
    tar -C "$root" --owner=0 --group=0 -czf "$DIST/iotd_${PKG_VERSION}_linux_mipsle.tar.gz" usr etc
    echo "$DIST/iotd_${PKG_VERSION}_linux_mipsle.tar.gz"
    continue
  fi
  for f in $formats; do
    # nfpm.yaml takes its files from dist/pkg/stage.
    rm -rf dist/pkg/stage && mkdir -p dist/pkg && cp -r "$stage" dist/pkg/stage
    PKG_ARCH=$nfarch PKG_VERSION=$PKG_VERSION \
      $NFPM package --config packaging/nfpm.yaml --packager "$f" --target "$DIST/"
  done
done
