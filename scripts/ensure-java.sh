#!/usr/bin/env bash
# Prints the path of a Java 17+ runtime (AWS's DynamoDB Local, which the tests run, needs one).
# Tries $JAVA, then java on PATH. If none works and we are root with apt-get, installs Debian's
# openjdk-17-jre-headless and tries again. Otherwise exits 1 saying what to install.
# Only the java path goes to stdout; everything else goes to stderr.
set -u

find_java() {
  local candidate resolved major
  for candidate in ${JAVA:+"$JAVA"} java; do
    resolved="$(command -v "$candidate" 2>/dev/null)" || continue
    # `java -version` prints e.g.: openjdk version "17.0.15" 2025-04-15 (on stderr)
    major="$("$resolved" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)"
    if [ -n "$major" ] && [ "$major" -ge 17 ]; then
      printf '%s\n' "$resolved"
      return 0
    fi
  done
  return 1
}

if find_java; then
  exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-java: no Java 17+ runtime found; installing openjdk-17-jre-headless with apt-get" >&2
  if apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >&2; then
    if find_java; then
      exit 0
    fi
  else
    echo "ensure-java: apt-get install openjdk-17-jre-headless failed" >&2
  fi
fi

echo "ensure-java: no Java 17 or newer (tried: ${JAVA:+$JAVA }java). The tests run AWS's DynamoDB Local, a Java program." >&2
echo "Install a Java 17+ runtime: 'apt-get install openjdk-17-jre-headless' (Debian/Ubuntu), 'brew install openjdk@17' (macOS);" >&2
echo "or point JAVA at its java binary." >&2
exit 1
