#!/usr/bin/env bash
# Installs the system packages Kairos needs (Java 17+ for the broker, Maven for its jars,
# Debian's python3 with its venv module, redis-server for the Redis feature store's tests and
# benchmark, a Rust toolchain for the compiled decision path in native/, a C compiler and
# Python's headers for the modules mypyc compiles) from Debian's packages when they are
# missing. Quick when present.
set -euo pipefail

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
# cargo (with rustfmt and clippy for `make lint`): rustup's (~/.cargo/bin) or Debian's
command -v cargo >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo" ] || missing+=(cargo rustfmt rust-clippy)
# `kairos compile` (mypyc) builds C extensions: a C compiler and the interpreter's headers
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
# Debian's own python3 (see scripts/python.sh) with its venv module and headers, unless told
# another
if [ -z "${KAIROS_PYTHON:-}" ]; then
  /usr/bin/python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3 python3-venv)
  /usr/bin/python3 -c "import os, sysconfig, sys; \
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" \
    >/dev/null 2>&1 || missing+=(python3-dev)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing system packages: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
