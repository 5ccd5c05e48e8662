# Shared set-up steps for scripts/up and scripts/test. Each step checks first and only does
# what is missing, so a second run is quick. Needs root on a fresh Debian machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAR="${BERTH_DATA_DIR:-$ROOT/var}"
LOGS="$VAR/log"
mkdir -p "$VAR" "$LOGS"
PY="$ROOT/.venv/bin/python"
APT_UPDATED=""
# The Go programs of the lab images, built once per machine and shared by every checkout on it
# (a cold build takes half an hour; platform/toolchain/gobuild.py).
export BERTH_BUILD_CACHE="${BERTH_BUILD_CACHE:-/var/cache/berth}"
mkdir -p "$BERTH_BUILD_CACHE" 2> /dev/null || export BERTH_BUILD_CACHE="$VAR"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

apt_install() {  # apt_install PACKAGE... (only those whose command or file is missing are passed)
  [ "$#" -gt 0 ] || return 0
  if [ "$(id -u)" != 0 ]; then
    echo "Missing system packages: $*. Run as root (or install them) and try again." >&2
    exit 1
  fi
  if [ -z "$APT_UPDATED" ]; then
    say "apt-get update"
    apt-get update -qq
    APT_UPDATED=1
  fi
  say "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" > "$LOGS/apt.log" 2>&1 \
    || { tail -20 "$LOGS/apt.log"; exit 1; }
}

ensure_system_packages() {  # the platform's own needs; scripts/test adds the browser
  local need=()
  command -v python3 > /dev/null || need+=(python3)
  python3 -c 'import venv, ensurepip' 2> /dev/null || need+=(python3-venv)
  command -v dockerd > /dev/null || need+=(docker.io)
  command -v debootstrap > /dev/null || need+=(debootstrap)
  command -v redis-server > /dev/null || need+=(redis-server)
  command -v node > /dev/null || need+=(nodejs)
  command -v npm > /dev/null || need+=(npm)
  command -v iptables > /dev/null || need+=(iptables)
  command -v curl > /dev/null || need+=(curl)
  command -v dpkg-deb > /dev/null || need+=(dpkg)
  # Go programs for the lab images (platform/toolchain): runc is built with cgo and libseccomp.
  command -v gcc > /dev/null || need+=(gcc libc6-dev)
  [ -f /usr/include/seccomp.h ] || need+=(libseccomp-dev)
  command -v pkg-config > /dev/null || need+=(pkg-config)
  apt_install "${need[@]}"
  ensure_go
}

# Go, for building Kubernetes, containerd and the rest from their modules. Debian's is too old:
# take the toolchain from the Go module proxy (a module like any other) when go is missing or
# older than GO_VERSION.
GO_VERSION="1.26.8"
ensure_go() {
  local have
  have="$(go env GOVERSION 2> /dev/null || true)"
  if [ -n "$have" ] && [ "$(printf '%s\n' "go$GO_VERSION" "$have" | sort -V | head -1)" = "go$GO_VERSION" ]; then
    return
  fi
  local dir="/usr/local/lib/berth-go/go$GO_VERSION"
  if [ ! -x "$dir/bin/go" ]; then
    say "installing Go $GO_VERSION from the Go module proxy"
    local zip="/tmp/berth-go-$GO_VERSION.zip" proxy="${GOPROXY:-https://proxy.golang.org}"
    proxy="${proxy%%,*}"
    curl -fsSL -o "$zip" "$proxy/golang.org/toolchain/@v/v0.0.1-go$GO_VERSION.linux-amd64.zip"
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    python3 -m zipfile -e "$zip" "$dir.tmp"
    mv "$dir.tmp/golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-amd64" "$dir"
    chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/*
    rm -rf "$dir.tmp" "$zip"
  fi
  export PATH="$dir/bin:$PATH"
}

ensure_redis() {
  local url="${REDIS_URL:-redis://127.0.0.1:6379/0}"
  if "$PY" -c "import redis,sys; redis.Redis.from_url('$url', socket_timeout=2).ping()" 2> /dev/null; then
    return
  fi
  say "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir "$VAR" --logfile "$LOGS/redis.log"
  for _ in $(seq 1 50); do
    "$PY" -c "import redis; redis.Redis.from_url('$url').ping()" 2> /dev/null && return
    sleep 0.1
  done
  echo "Redis did not start; see $LOGS/redis.log" >&2
  exit 1
}

# The platform's own Docker engine, beside any system dockerd: its own socket and bridge, and a
# data root on a loop-mounted btrfs file system, so every sandbox gets a disk quota
# (--storage-opt size) on an ext4 host too. Sandboxes have no network or session networks of their
# own, so this engine manages no iptables: NAT for its bridge (which only image builds use) and the
# rules that keep session networks off the host and away from each other are ours
# (here, and sandboxes/backends/docker/backend.py).
# The engine remaps users (--userns-remap, BERTH_ENGINE_USERNS=1, the default): a sandbox's root
# is host uid 1000000 and its users the 524288 ids from there, never the host's root, so a
# learner on a Docker or Kubernetes day cannot write host-wide kernel settings or mount the
# kernel's debug file systems; the worker hands those sandboxes their own cgroups at each start.
# The range is larger than Docker's default 65536 so that a sandbox can remap users in turn (a
# nested engine's remapped users start at 100000 or 165536: day 17). BERTH_ENGINE_USERNS=0 gives
# sandboxes the host's root, for trusted learners only (docs/security.md).
ENGINE_SOCKET="${BERTH_ENGINE_SOCKET:-/run/berth/docker.sock}"
ENGINE_ROOT="${BERTH_ENGINE_ROOT:-/var/lib/berth-engine}"
ENGINE_DISK_GB="${BERTH_ENGINE_DISK_GB:-64}"
ENGINE_BRIDGE="berth0"
ENGINE_BRIDGE_NET="172.30.255.0/24"
ENGINE_USERNS="${BERTH_ENGINE_USERNS:-1}"
ENGINE_REMAP_USER="berth-remap"
ENGINE_REMAP_IDS="1000000:524288"  # first host id : how many

ensure_remap_user() {  # the user whose subordinate ids the engine maps a sandbox's users to
  id -u "$ENGINE_REMAP_USER" > /dev/null 2>&1 \
    || useradd --system --no-create-home --shell /usr/sbin/nologin "$ENGINE_REMAP_USER"
  local file
  for file in /etc/subuid /etc/subgid; do
    touch "$file"
    grep -qx "$ENGINE_REMAP_USER:$ENGINE_REMAP_IDS" "$file" && continue
    sed -i "/^$ENGINE_REMAP_USER:/d" "$file"
    echo "$ENGINE_REMAP_USER:$ENGINE_REMAP_IDS" >> "$file"
  done
}

engine_userns_ok() {  # the running engine remaps users exactly when it should
  local remapped=0
  docker -H "unix://$ENGINE_SOCKET" info --format '{{.SecurityOptions}}' | grep -q 'name=userns' && remapped=1
  [ "$remapped" = "$ENGINE_USERNS" ]
}

# Image builds reach Debian's mirrors through the engine's bridge (a build on the host's network
# is refused on an engine that remaps users); sandboxes never join that bridge.
ensure_engine_nat() {
  sysctl -qw net.ipv4.ip_forward=1
  iptables -t nat -C POSTROUTING -s "$ENGINE_BRIDGE_NET" ! -o "$ENGINE_BRIDGE" -j MASQUERADE 2> /dev/null \
    || iptables -t nat -A POSTROUTING -s "$ENGINE_BRIDGE_NET" ! -o "$ENGINE_BRIDGE" -j MASQUERADE
}

# Every sandbox's root is the same host uid (1000000), and runc gives each container and each
# exec a session keyring owned by it: the kernel's default quota for a user who is not root (200
# keys, 20000 bytes) stopped the 176th sandbox from starting ("unable to create session key: disk
# quota exceeded"). That uid gets what the kernel gives root.
ensure_key_quota() {
  local name want
  for name in maxkeys maxbytes; do
    want=$(cat "/proc/sys/kernel/keys/root_$name")
    [ "$(cat "/proc/sys/kernel/keys/$name")" -ge "$want" ] || sysctl -qw "kernel.keys.$name=$want"
  done
}

# inotify instances are counted per user, and every sandbox's root is one host user (the same
# host root without remapping): a Kubernetes node's containerd, kubelet and kube-proxy take about
# 25, so with the kernel's default of 128 the fifth cluster on a host failed ("too many open
# files" in containerd's CRI plugin and kube-proxy). Raised, never lowered.
ensure_inotify_limits() {
  [ "$(cat /proc/sys/fs/inotify/max_user_instances)" -ge 8192 ] || sysctl -qw fs.inotify.max_user_instances=8192
  [ "$(cat /proc/sys/fs/inotify/max_user_watches)" -ge 1048576 ] || sysctl -qw fs.inotify.max_user_watches=1048576
}

ensure_docker() {
  ensure_engine_nat
  ensure_inotify_limits
  [ "$ENGINE_USERNS" = 1 ] && ensure_key_quota
  if docker -H "unix://$ENGINE_SOCKET" info > /dev/null 2>&1; then
    # An engine started by an older Berth (no live restore, or full quota accounting): restart it
    # with today's options (its sandboxes keep running meanwhile).
    # A switch of user remapping starts from another data root: the old mode's sandboxes and
    # images stay behind in the old one (images are built again).
    [ "$(docker -H "unix://$ENGINE_SOCKET" info --format '{{.LiveRestoreEnabled}}')" = true ] \
      && engine_quota_ok && engine_userns_ok && return
    stop_engine
  fi
  command -v mkfs.btrfs > /dev/null || apt_install btrfs-progs
  say "starting Berth's Docker engine ($ENGINE_SOCKET, btrfs data root $ENGINE_ROOT)"
  mkdir -p "$ENGINE_ROOT" /run/berth
  if ! mountpoint -q "$ENGINE_ROOT"; then
    if [ ! -f "$ENGINE_ROOT.img" ]; then
      truncate -s "${ENGINE_DISK_GB}G" "$ENGINE_ROOT.img"  # sparse: takes space only as it fills
      mkfs.btrfs -q "$ENGINE_ROOT.img" > /dev/null
    fi
    mount -o loop "$ENGINE_ROOT.img" "$ENGINE_ROOT"
  fi
  # Direct I/O: the loop device writes to the image file past the host's page cache, so every
  # sandbox's writes and fsyncs are not copied and flushed twice.
  losetup --direct-io=on "$(findmnt -no SOURCE "$ENGINE_ROOT")" 2> /dev/null || true
  # Quota accounting must be on for the per-sandbox disk caps to hold: simple quotas (cheap),
  # or full accounting, kept consistent by a rescan, where the kernel has no simple mode.
  if ! engine_quota_ok; then
    if ! python3 "$ROOT/scripts/btrfs_quota.py" simple "$ENGINE_ROOT"; then
      btrfs quota enable "$ENGINE_ROOT"
      btrfs quota rescan -w "$ENGINE_ROOT" > /dev/null
      touch "$ENGINE_ROOT.full-quota"
    fi
  fi
  if ! ip link show "$ENGINE_BRIDGE" > /dev/null 2>&1; then
    ip link add "$ENGINE_BRIDGE" type bridge
    ip addr add "${ENGINE_BRIDGE_NET%.0/24}.1/24" dev "$ENGINE_BRIDGE"
    ip link set "$ENGINE_BRIDGE" up
  fi
  local userns=()
  if [ "$ENGINE_USERNS" = 1 ]; then
    ensure_remap_user
    userns=(--userns-remap="$ENGINE_REMAP_USER")
  fi
  # --live-restore: sandboxes keep running while the engine restarts (an upgrade, a crash).
  (setsid dockerd --host "unix://$ENGINE_SOCKET" --data-root "$ENGINE_ROOT/docker" \
     --exec-root /run/berth/engine --pidfile /run/berth/engine.pid --storage-driver btrfs \
     --bridge "$ENGINE_BRIDGE" --iptables=false --ip-masq=false --live-restore "${userns[@]}" \
     >> "$LOGS/dockerd.log" 2>&1 &)
  for _ in $(seq 1 150); do
    docker -H "unix://$ENGINE_SOCKET" info > /dev/null 2>&1 && return
    sleep 0.2
  done
  echo "Berth's dockerd did not start; see $LOGS/dockerd.log" >&2
  exit 1
}

engine_quota_ok() {  # simple quotas, or full ones where the kernel could not do simple
  case "$(python3 "$ROOT/scripts/btrfs_quota.py" mode "$ENGINE_ROOT" 2> /dev/null)" in
    simple) return 0 ;;
    full) [ -f "$ENGINE_ROOT.full-quota" ] ;;
    *) return 1 ;;
  esac
}

stop_engine() {
  local pid
  pid="$(cat /run/berth/engine.pid 2> /dev/null)" || return 0
  say "restarting Berth's Docker engine"
  kill "$pid" 2> /dev/null || return 0
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2> /dev/null || return 0
    sleep 0.2
  done
}

ensure_python() {  # the virtualenv, re-synced whenever pyproject.toml changes
  local stamp="$ROOT/.venv/.berth-deps"
  local want
  want="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
  if [ ! -x "$PY" ]; then
    say "creating the Python virtualenv"
    python3 -m venv "$ROOT/.venv"
  fi
  if [ "$(cat "$stamp" 2> /dev/null)" != "$want" ]; then
    say "installing Python packages"
    "$PY" -m pip install -q --upgrade pip > "$LOGS/pip.log" 2>&1
    "$PY" -m pip install -q -e "$ROOT[test]" >> "$LOGS/pip.log" 2>&1 || { tail -20 "$LOGS/pip.log"; exit 1; }
    echo "$want" > "$stamp"
  fi
}

ensure_assets() {  # front-end libraries from npm, their dist files copied to build/vendor
  local stamp="$ROOT/node_modules/.berth-deps"
  local want
  want="$(cat "$ROOT/package.json" "$ROOT/package-lock.json" | sha256sum | cut -c1-16)"
  if [ "$(cat "$stamp" 2> /dev/null)" != "$want" ]; then
    say "installing front-end libraries (npm ci)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
  fi
  sh "$ROOT/scripts/vendor-assets" "$ROOT/node_modules" "$ROOT/build/vendor"
}

prepare_platform() {  # database, course, lab images
  say "migrating the database"
  "$PY" "$ROOT/manage.py" migrate --no-input -v 0
  say "loading the course (lessons/ and labs/)"
  "$PY" "$ROOT/manage.py" load_course
  say "building lab images (first run: a Debian base with debootstrap, then the recipes)"
  "$PY" "$ROOT/manage.py" build_lab_images > "$LOGS/build_lab_images.log" 2>&1 \
    || { tail -30 "$LOGS/build_lab_images.log"; exit 1; }
  tail -1 "$LOGS/build_lab_images.log"
}

setup_all() {
  ensure_system_packages
  ensure_python
  ensure_redis
  ensure_docker
  ensure_assets
}

ensure_browser() {  # Debian's Chromium, driven by Playwright (which cannot download browsers here)
  [ -x /usr/bin/chromium ] || apt_install chromium fonts-dejavu-core
  command -v prometheus > /dev/null || apt_install prometheus  # scrapes a live stack: tests/test_metrics.py
}

ensure_postgres() {  # PostgreSQL, the production database: use the local server, or install one
  if pg_isready -q -h /var/run/postgresql 2> /dev/null; then
    return
  fi
  command -v pg_ctlcluster > /dev/null || apt_install postgresql
  local version
  version="$(ls /etc/postgresql | sort -n | tail -1)"
  say "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 50); do pg_isready -q -h /var/run/postgresql && break; sleep 0.2; done
  su postgres -c "createuser --superuser root" 2> /dev/null || true
}
