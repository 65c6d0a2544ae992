#!/usr/bin/env bash
# Prints the path of a python3 that can `import boto3` (the glue-job tests need one).
# Tries $PYTHON, /usr/bin/python3, then python3 on PATH. If none works and we are root with apt-get,
# installs Debian's python3-boto3 and tries again. Otherwise exits 1 saying what to install.
# Only the interpreter path goes to stdout; everything else goes to stderr.
set -u

candidates=()
if [ -n "${PYTHON:-}" ]; then candidates+=("$PYTHON"); fi
candidates+=(/usr/bin/python3 python3)

find_python() {
  local candidate resolved
  for candidate in "${candidates[@]}"; do
    resolved="$(command -v "$candidate" 2>/dev/null)" || continue
    if "$resolved" -c 'import boto3' >/dev/null 2>&1; then
      printf '%s\n' "$resolved"
      return 0
    fi
  done
  return 1
}

if find_python; then
  exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-python-boto3: no python3 with boto3 found; installing python3-boto3 with apt-get" >&2
  if apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-boto3 >&2; then
    if find_python; then
      exit 0
    fi
  else
    echo "ensure-python-boto3: apt-get install python3-boto3 failed" >&2
  fi
fi

echo "ensure-python-boto3: no python3 that can 'import boto3' (tried: ${candidates[*]})." >&2
echo "Install boto3 for python3: 'apt-get install python3-boto3' (Debian/Ubuntu) or 'pip install boto3';" >&2
echo "or point PYTHON at an interpreter that has it." >&2
exit 1
