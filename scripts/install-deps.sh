#!/usr/bin/env bash
# Installs the Debian packages cardbureau needs, only those that are missing.
# Idempotent; run as root on Debian 12 (bookworm). Nothing is downloaded
# outside Debian's archive.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git python3
  libpcsclite-dev pcscd vsmartcard-vpcd pcsc-tools
  libopencv-dev libopencv-contrib-dev opencv-data zlib1g-dev libjpeg62-turbo-dev libpng-dev libdeflate-dev
  libfreetype-dev fonts-noto-cjk fonts-wqy-zenhei fonts-hanazono fontconfig
  libqrencode-dev zbar-tools libzbar-dev
  libhpdf-dev poppler-utils libharfbuzz-dev libaio-dev
  libzmq3-dev cppzmq-dev libsodium-dev
  libboost-dev libboost-program-options-dev
  nlohmann-json3-dev libsqlite3-dev libssl-dev
  # PKCS#11 keystore backend: headers (p11-kit), SoftHSM2 for the tests, pkcs11-tool
  libp11-kit-dev softhsm2 opensc
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev clang-format
  cups cups-client cups-bsd libcups2-dev
  # make package: dpkg-shlibdeps computes Depends; tests only: systemd-analyze
  # verifies the service unit (nothing here runs systemd).
  dpkg-dev systemd
)
if [ "${CARDBUREAU_WITH_BROWSER:-1}" = 1 ]; then
  PACKAGES+=(chromium nodejs)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${#missing[@]} missing package(s): ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-deps: not root and no sudo; install these by hand: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists; refresh them once (at most daily).
stamp=/var/lib/apt/periodic/cardbureau-update-stamp
if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +1440 2>/dev/null)" ] ; then
  $SUDO apt-get update -q
  $SUDO mkdir -p "$(dirname "$stamp")" && $SUDO touch "$stamp"
fi
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
