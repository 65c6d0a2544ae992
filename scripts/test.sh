#!/usr/bin/env bash
# npm test after the type check: the Python suite (unittest's own runner, __tests__/python/python-suite.ts)
# and jest at once, since alone each leaves a core idle much of the time. The Python report is printed
# when both have ended; the run fails if either does.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .test-results
report=.test-results/python-report.txt
npx tsx __tests__/python/python-suite.ts > "$report" 2>&1 &
python_pid=$!
# Marks the run under way from the start, so the jest test that reads its results waits for it.
echo "$python_pid" > .test-results/python.running
npx jest "$@"
jest_status=$?
wait "$python_pid"
python_status=$?
echo
echo "==================== Python suite (unittest), also in $report ===================="
cat "$report"
[ "$jest_status" -eq 0 ] && [ "$python_status" -eq 0 ]
