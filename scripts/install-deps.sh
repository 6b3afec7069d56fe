#!/usr/bin/env bash
# Installs the Debian 12 packages swarmpy, its lab and its tests need. Run as root.
# Idempotent and quick when everything is present: apt is only touched when `dpkg-query`
# reports a package missing. Python packages are not installed here (see `make venv`).
set -euo pipefail

PACKAGES=(
  runc              # the container runtime the agent drives
  golang-github-containers-common  # /usr/share/containers/seccomp.json: containers' seccomp profile
  iproute2          # ip/bridge: debugging, lab wiring
  nftables          # nft: VIP load balancing (fallback driver)
  python3-nftables  # libnftables binding: the fast VIP driver (not on PyPI)
  busybox-static    # the lab's and the tests' container image
  iputils-ping      # ping inside and between lab hosts
  docker-registry   # the lab's registry host and the image tests' registry
  docker.io         # /usr/bin/docker, the client the Engine API tests drive (dockerd stays off)
  dnsmasq-base      # the lab's upstream resolver; DNS benchmark baseline
  iperf3            # overlay throughput benchmark
  dnsperf           # DNS benchmark
  etcd-server       # Raft store benchmark baseline (etcd, fsync on); its service stays off
  systemd           # systemd-analyze verify for the deploy unit's test
  procps            # ps, sysctl
  util-linux        # unshare, nsenter, mount
  kmod              # modprobe, lsmod (vxlan, overlay, nf_* modules)
  python3-venv      # `python3 -m venv` for .venv
  git
  make
  curl
  ca-certificates
)

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps.sh: run as root (it installs Debian packages)" >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps.sh: all ${#PACKAGES[@]} Debian packages present"
  exit 0
fi

echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# docker.io brings dockerd and containerd, which would start at once and take the machine's
# iptables and a docker0 bridge; only the client is wanted. Services are denied a start while
# apt runs (policy-rc.d), unless the machine already has its own policy.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -q
apt-get install -y -q --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${missing[@]}" </dev/null

# The docker-registry package enables a system service on :5000 of the root namespace. Nothing
# of ours uses it (the lab and the tests run their own registries, with their own config, on
# addresses of their own), so when we are the ones who installed it, switch it off.
if [[ " ${missing[*]} " == *" docker-registry "* ]] && [[ -d /run/systemd/system ]]; then
  systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
fi
if [[ " ${missing[*]} " == *" docker.io "* ]] && [[ -d /run/systemd/system ]]; then
  systemctl disable --now docker.service docker.socket containerd.service >/dev/null 2>&1 || true
fi
# etcd-server enables etcd on 127.0.0.1:2379; the benchmark starts its own members on ports of
# its own, so the packaged service is switched off as the registry's is.
if [[ " ${missing[*]} " == *" etcd-server "* ]] && [[ -d /run/systemd/system ]]; then
  systemctl disable --now etcd.service >/dev/null 2>&1 || true
fi
echo "install-deps.sh: done"
