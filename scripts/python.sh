#!/usr/bin/env bash
# Prints the Python interpreter Kairos's virtualenv is made with: $KAIROS_PYTHON when set;
# else Debian's python3 package when it is 3.11 or newer, because Debian builds it with
# profile-guided and link-time optimisation (a plain source build, as version managers make,
# runs the decision path about a fifth slower); else the first python3 on the PATH.
set -euo pipefail
if [ -n "${KAIROS_PYTHON:-}" ]; then
  echo "$KAIROS_PYTHON"
  exit 0
fi
debian=/usr/bin/python3
if [ -x "$debian" ] && "$debian" -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "$debian"
else
  command -v python3
fi
