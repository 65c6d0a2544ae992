#!/usr/bin/env bash
# Prints how to start moto's server (the AWS emulator the Terraform tests apply the stacks to):
# moto_server on PATH, else a python3 on PATH that can import moto.server. moto is not packaged by
# Debian and pip may not reach PyPI, so nothing is installed: exits 1 saying what to install.
# Only the command goes to stdout; everything else goes to stderr.
set -u

if command -v moto_server >/dev/null 2>&1 && moto_server --help >/dev/null 2>&1; then
  command -v moto_server
  exit 0
fi
if python3 -c 'import moto.server' >/dev/null 2>&1; then
  echo "$(command -v python3) -m moto.server"
  exit 0
fi

echo "ensure-moto: no moto server (tried: moto_server, python3 -m moto.server). The Terraform tests apply the stacks to it." >&2
echo "Install moto 5.2 or newer with its server for python3: pip install 'moto[server]>=5.2'." >&2
exit 1
