#!/usr/bin/env bash
# Run Schemathesis (the OpenAPI fuzzer, from PyPI) at a pinned version, installing it first into
# a virtualenv in the user's cache when it is not there yet. Arguments go to `schemathesis`.
set -euo pipefail
VERSION=4.32.5
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/license-pair-operator/schemathesis-$VERSION"
# the marker is written last, so an install that was cut short is redone
if [ ! -f "$VENV/.installed" ]; then
  PYTHON="$(command -v python3.11 || command -v python3)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION" >&2
  touch "$VENV/.installed"
fi
exec "$VENV/bin/schemathesis" "$@"
