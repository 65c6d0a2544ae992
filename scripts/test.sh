#!/usr/bin/env bash
# npm test after the type check: the Python suite (unittest's own runner, __tests__/python/python-suite.ts)
# beside jest, then the jest files that read the Python run's results. The Python report is printed
# at the end; the run fails if any part does.
#
# The Python suite runs at a lower priority: jest's end-to-end and Terraform files keep both cores
# busy and run against their servers' clocks (DynamoDB Local gives up on a lock, a Terraform command
# has a time limit), while the Python suite only has to end. The files that read its results run
# after it, so no jest worker sits waiting for it.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .test-results
report=.test-results/python-report.txt
nice -n 10 npx tsx __tests__/python/python-suite.ts > "$report" 2>&1 &
python_pid=$!
# Marks the run under way from the start, so a jest file that reads its results waits for it.
echo "$python_pid" > .test-results/python.running
if [ "$#" -gt 0 ]; then
  npx jest "$@"
  jest_status=$?
else
  mapfile -t readers < <(grep -l 'python/python-suite' __tests__/*.test.ts)
  if [ "${#readers[@]}" -gt 0 ]; then npx jest --testPathIgnorePatterns "${readers[@]}"; else npx jest; fi
  jest_status=$?
fi
wait "$python_pid"
python_status=$?
# The readers run only on a run that passed: on a failed one, each would run the whole suite again.
readers_status=0
if [ "$#" -eq 0 ] && [ "$python_status" -eq 0 ] && [ "${#readers[@]}" -gt 0 ]; then
  npx jest "${readers[@]}"
  readers_status=$?
fi
echo
echo "==================== Python suite (unittest), also in $report ===================="
cat "$report"
[ "$jest_status" -eq 0 ] && [ "$python_status" -eq 0 ] && [ "$readers_status" -eq 0 ]
