#!/usr/bin/env bash
# Installs the real peer tools the interop tests run (see /work/shared/docs/peers.md).
# Idempotent: does nothing when every package is already installed.
set -euo pipefail

packages=(skopeo umoci jq docker.io containerd runc podman crun fuse-overlayfs iptables docker-registry hyperfine)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "installed" ]]; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-peers: all peer packages present"
  exit 0
fi

echo "install-peers: installing ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  sudo=(sudo)
else
  sudo=()
fi
# Wait for another apt/dpkg run instead of failing on its lock.
apt_opts=(-o DPkg::Lock::Timeout=600)
"${sudo[@]}" apt-get "${apt_opts[@]}" update
# Package scripts try to start services and fail harmlessly without systemd; nothing is left running.
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"
