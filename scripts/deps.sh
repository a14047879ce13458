# Debian 12 packages clusterd needs. Sourced by scripts/demo and scripts/test: installs whatever is
# missing when run as root, else prints the apt-get line.
#   CLUSTERD_PACKAGES        to build clusterd and run the demo (scripts/demo)
#   CLUSTERD_TEST_PACKAGES   also for the tests: clang for the sanitized build and the fuzzers,
#                            the tools the e2e tests drive, the real runtimes of the recipes
CLUSTERD_PACKAGES=(g++ cmake make pkg-config ccache libasio-dev libyaml-cpp-dev libspdlog-dev
  libsystemd-dev nlohmann-json3-dev libcli11-dev nettle-dev catch2 curl wrk procps)
CLUSTERD_TEST_PACKAGES=(python3 util-linux systemd clang libclang-rt-14-dev
  python3-prometheus-client tmux nodejs golang-go gunicorn)

ensure_packages() {
  local missing=()
  for p in "${CLUSTERD_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing Debian packages; run as root:" >&2
    echo "  apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
