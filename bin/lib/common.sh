# Shared set-up steps for bin/snakepit-up and bin/snakepit-test. Source it; do not run it.
# Every step is idempotent and skips work that is already done, so re-running is fast.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${SNAKEPIT_VENV:-$REPO/.venv}

#: Debian packages the service and its tests need (pyfuse3 builds against libfuse3).
APT_PACKAGES=(python3 python3-venv python3-dev gcc pkg-config libfuse3-dev fuse3 git curl
              ca-certificates openssl)

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

require_root() {
  [ "$(id -u)" = 0 ] || die "run this as root (it installs packages and starts services)"
}

install_apt_packages() {
  local missing=() package
  for package in "${APT_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
      || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "Installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# install_venv EXTRAS: create the venv and install the project with pinned dependencies.
# A stamp of pyproject.toml + constraints.txt skips pip when nothing changed.
install_venv() {
  local extras=$1 stamp
  stamp="$(cat "$REPO/pyproject.toml" "$REPO/constraints.txt" | sha256sum | cut -c1-16)-$extras"
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.snakepit-stamp" 2>/dev/null)" = "$stamp" ] \
     && "$VENV/bin/python" -c "import snakepit" 2>/dev/null; then
    return 0
  fi
  local python=${SNAKEPIT_PYTHON:-python3}
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$python is older than Python 3.11"
  say "Installing the Python environment in $VENV"
  [ -x "$VENV/bin/python" ] || "$python" -m venv "$VENV"
  local log
  log=$(mktemp)
  if ! "$VENV/bin/python" -m pip install -q -c "$REPO/constraints.txt" -e "$REPO$extras" \
       >"$log" 2>&1; then
    grep -v "is ignored" "$log" >&2
    rm -f "$log"
    die "installing the project into $VENV failed"
  fi
  rm -f "$log"
  echo "$stamp" > "$VENV/.snakepit-stamp"
}
