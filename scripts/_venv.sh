# Sourced by scripts/run and scripts/test: make .venv with Python >= 3.11 and keep it in step
# with pyproject.toml (re-install when the file changed since the last install).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
  echo "musrenbot needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  exit 1
}

ensure_venv() {  # $1: the extras to install, e.g. "" or "[dev,voice]"
  # One stamp per set of extras: a venv made by `scripts/run` is not taken for a test one.
  local extras="$1" stamp=".venv/.installed${1:+-$(tr -dc 'a-z,' <<<"$1" | tr ',' '-')}"
  if [ ! -x .venv/bin/python ]; then
    "$(find_python)" -m venv .venv
  fi
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".${extras}"
    touch "$stamp"
  fi
}
