#!/usr/bin/env bash
# Prints the command that starts moto's server (the AWS emulator the Terraform tests apply the
# stacks to): the module of a python3 whose moto is 5.2 or newer, else moto_server on PATH. moto is
# not packaged by Debian and pip may not reach PyPI, so nothing is installed: exits 1 saying what to
# install. Only the command goes to stdout; everything else goes to stderr.
set -u

for candidate in ${PYTHON:+"$PYTHON"} python3; do
  resolved="$(command -v "$candidate" 2>/dev/null)" || continue
  if "$resolved" -c '
import sys, moto, moto.server
major, minor = (int(part) for part in moto.__version__.split(".")[:2])
sys.exit(0 if (major, minor) >= (5, 2) else 1)' >/dev/null 2>&1; then
    echo "$resolved -m moto.server"
    exit 0
  fi
done
if command -v moto_server >/dev/null 2>&1 && moto_server --help >/dev/null 2>&1; then
  command -v moto_server
  exit 0
fi

echo "ensure-moto: no moto server (tried: ${PYTHON:+$PYTHON }python3 -m moto.server with moto 5.2 or newer, moto_server). The Terraform tests apply the stacks to it." >&2
echo "Install moto 5.2 or newer with its server for python3: pip install 'moto[server]>=5.2'." >&2
exit 1
