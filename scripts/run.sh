#!/usr/bin/env bash
# README's first command: install, then start the dashboard (embedded models work offline).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export TOKENIZERS_PARALLELISM=false
exec python3 -m streamlit run app.py "$@"
