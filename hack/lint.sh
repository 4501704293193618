#!/usr/bin/env bash
# Cheap static checks the type checker does not make.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
# No focused or skipped-by-accident tests.
if grep -rnE '\b(it|describe|test)\.only\(' test/ bench/ 2>/dev/null; then echo "lint: remove .only" >&2; fail=1; fi
# Never a private address in tests but the sandbox network's own 10.244.0.0/16 (hack/netns.sh):
# test traffic goes to loopback or into namespaces the sandbox made.
if grep -rnE 'https?://(10|172\.(1[6-9]|2[0-9]|3[01])|192\.168)\.[0-9]+\.[0-9]+' test/ bench/ hack/ 2>/dev/null | grep -vE 'https?://10\.244\.[0-9]+\.[0-9]+'; then
  echo "lint: tests talk to loopback or the sandbox network (10.244.0.0/16) only" >&2; fail=1
fi
# No console.log in the operator/agent code: use the structured logger.
if grep -rn 'console\.log' src/ --include=*.ts | grep -v '^src/cli/' ; then echo "lint: use the logger, not console.log" >&2; fail=1; fi
exit $fail
