#!/usr/bin/env bash
# Prints the path of a Terraform CLI, 1.10 or newer (the tests run the synthesized Terraform with it;
# .terraform-version names the version this project is built with). Tries $TERRAFORM, then terraform
# on PATH. Neither Debian nor npm packages Terraform, so nothing is installed: exits 1 saying how.
# Only the terraform path goes to stdout; everything else goes to stderr.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
wanted="$(cat "$here/../.terraform-version" 2>/dev/null || echo 1.11.4)"

# The tests run $TERRAFORM when it is set, so then only it is judged.
for candidate in ${TERRAFORM:-terraform}; do
  resolved="$(command -v "$candidate" 2>/dev/null)" || continue
  # `terraform version` prints e.g.: Terraform v1.11.4
  version="$("$resolved" version 2>/dev/null | sed -n 's/^Terraform v\([0-9]*\.[0-9]*\).*/\1/p' | head -n 1)"
  major="${version%%.*}"
  minor="${version#*.}"
  if [ -n "$version" ] && { [ "$major" -gt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -ge 10 ]; }; }; then
    printf '%s\n' "$resolved"
    exit 0
  fi
done

echo "ensure-terraform: no Terraform 1.10 or newer (tried: ${TERRAFORM:-terraform}). The tests run the synthesized Terraform." >&2
echo "Install Terraform $wanted: 'tfenv install' in the project root, or HashiCorp's apt repository ('apt-get install terraform'), or 'brew install hashicorp/tap/terraform';" >&2
echo "or point TERRAFORM at its binary." >&2
exit 1
