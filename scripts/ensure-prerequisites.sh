#!/usr/bin/env bash
# What `npm test` needs besides Node.js: python3 with boto3 (the Glue job code and its tests), a
# Java 17+ runtime (AWS's DynamoDB Local), Terraform and moto's server (the synthesized Terraform is
# applied to that AWS emulator). Installs what it can (apt-get, when root); otherwise
# stops at once with one message naming everything that is missing. Prints nothing when all is there.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
missing=()
log="$(mktemp)"
for check in ensure-python-boto3.sh ensure-java.sh ensure-terraform.sh ensure-moto.sh; do
  bash "$here/$check" >/dev/null 2>"$log" || missing+=("$(cat "$log")")
done
rm -f "$log"
if [ ${#missing[@]} -gt 0 ]; then
  echo "npm test cannot run: a prerequisite is missing (README.md, Prerequisites)." >&2
  printf '%s\n' "${missing[@]}" >&2
  exit 1
fi
