#!/bin/sh
# Grading a large class past one machine, with an existing engine (no home-made scheduler): each task
# runs `nibble grade-one` on one submission into its own result folder; `nibble gradebook merge` joins
# them. Every task needs its own grading tree (--work), on the machine's local disk.
#
# Slurm job array (one task per submission, as root or in a container where the grader is root):
#   ls -d /class/submissions/* > list.txt
#   sbatch --array=1-$(wc -l < list.txt)%32 tools/autograde/grade_array.sh list.txt 01,02 /class/grades
#   # when the array is done:
#   nibble gradebook merge /class/grades/* --modules 01,02 --out /class/gradebook.csv
#
# GNU parallel over ssh (nibble built at the same path on every host, submissions on a shared disk):
#   parallel --sshloginfile hosts.txt -j1 tools/autograde/grade_array.sh list.txt 01,02 /class/grades {} \
#     ::: $(seq 1 $(wc -l < list.txt))
#   nibble gradebook merge /class/grades/* --modules 01,02 --out /class/gradebook.csv
#
#   grade_array.sh LIST MODULES OUT_ROOT [INDEX]     (INDEX defaults to $SLURM_ARRAY_TASK_ID; 1-based)
# Environment: NIBBLE (the binary, default `nibble`), NIBBLE_GRADE_WORK (the host's grading tree),
# NIBBLE_GRADE_OPTS (more options for grade-one, e.g. "--root /srv/course --timeout 60").
# Neither engine runs on the development machine (no Slurm, no ssh hosts): tests/autograde/run_suite.py
# runs this script as array tasks (SLURM_ARRAY_TASK_ID set by hand) and under GNU parallel locally.
# Use -j1 per host (one grading job per machine: SECURITY.md, "Parallel grading"). A finished submission
# is not graded again (its result exists), so a re-submitted array resumes.
#SBATCH --job-name=nibble-grade
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --time=00:30:00
set -eu
list=$1 modules=$2 out_root=$3
index=${4:-${SLURM_ARRAY_TASK_ID:?give INDEX or run as a Slurm array task}}
nibble=${NIBBLE:-nibble}
submission=$(sed -n "${index}p" "$list")
[ -n "$submission" ] || { echo "grade_array.sh: no line $index in $list" >&2; exit 2; }
name=$(basename "$submission")
name=${name%.zip}; name=${name%.tar.gz}; name=${name%.tgz}
# The grading tree is per host and reused by the host's later tasks (configured once).
work=${NIBBLE_GRADE_WORK:-${TMPDIR:-/tmp}/nibble-grader-$(id -u)}
# shellcheck disable=SC2086  # NIBBLE_GRADE_OPTS is a list of options
exec "$nibble" grade-one "$submission" --modules "$modules" --out "$out_root/$name" --work "$work" ${NIBBLE_GRADE_OPTS:-}
