#!/usr/bin/env bash
# An aarch64 emulation root for tests/pi: Debian's arm64 CPython 3.11 and the libraries it links, unpacked with
# dpkg-deb -x (no root file system, no binfmt, nothing installed for arm64), and the aarch64 wheels of
# `make pi-wheels` unpacked beside them. Run with qemu-aarch64-static -L DEST/root DEST/root/usr/bin/python3.11.
#
#   tests/pi/prepare-root.sh DEST WHEELS_DIR
set -euo pipefail
dest=${1:?usage: prepare-root.sh DEST WHEELS_DIR}
wheels=${2:?usage: prepare-root.sh DEST WHEELS_DIR}
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive

if ! command -v qemu-aarch64-static >/dev/null; then
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq qemu-user-static >/dev/null
fi
# apt-get download needs arm64 in apt's package lists (this installs nothing for arm64).
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $sudo dpkg --add-architecture arm64
  $sudo apt-get update -qq
fi

packages=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 libexpat1 zlib1g libssl3 libffi8
  libbz2-1.0 liblzma5 libsqlite3-0 libncursesw6 libtinfo6 libreadline8 libuuid1 libcrypt1 libgcc-s1 libstdc++6
  libdb5.3 libnsl2 libtirpc3 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libcom-err2 libkrb5support0 libkeyutils1
  libzstd1)
rm -rf "$dest"
mkdir -p "$dest/debs" "$dest/root" "$dest/site"
chmod 777 "$dest/debs"  # apt's download user writes here
(cd "$dest/debs" && apt-get download -qq "${packages[@]/%/:arm64}" 2>/dev/null)
for deb in "$dest"/debs/*.deb; do
  dpkg-deb -x "$deb" "$dest/root"
done
for wheel in "$wheels"/*.whl; do
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$wheel" "$dest/site"
done
echo "aarch64 root: $dest ($(find "$dest/debs" -name '*.deb' | wc -l) packages, $(find "$wheels" -name '*.whl' | wc -l) wheels)"
