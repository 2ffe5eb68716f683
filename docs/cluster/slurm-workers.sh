#!/usr/bin/env bash
# SLURM job array of lstm-tuner workers: each array task is one host that trains trials of
# the study until it holds its budget. Submit after (or before: workers wait 2 minutes for
# it) `run_search.py launch --study big ... --jobs 0` on a login node:
#
#   sbatch --array=0-7 docs/cluster/slurm-workers.sh big
#
# The storage URL, with its password, comes from a file only you can read, never the
# command line: LSTM_TUNER_STORAGE=postgresql://USER:PASSWORD@HOST/DB
#SBATCH --job-name=lstm-tuner-worker
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=04:00:00
set -euo pipefail
study=${1:?usage: sbatch --array=0-N slurm-workers.sh STUDY}
# shellcheck disable=SC1091
source "$HOME/.lstm-tuner-storage.env"
export LSTM_TUNER_STORAGE
cd "${LSTM_TUNER_HOME:-$HOME/lstm-tuner}"
exec .venv/bin/python run_search.py worker --study "$study" --jobs "${SLURM_CPUS_PER_TASK:-1}"
