# shellcheck shell=bash
# apt_install PKG...: install Debian packages (quietly, no recommends), as root or through sudo. Scripts
# collect what is missing themselves and call this only when something is, so a warm machine never runs apt.
apt_install() {
  (($#)) || return 0
  echo "installing Debian packages: $*" >&2
  local sudo=()
  [[ "$(id -u)" == 0 ]] || sudo=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >&2
}
