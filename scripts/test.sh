#!/usr/bin/env bash
# Runs lectern's whole test suite: formatting, lints, unit, integration and end-to-end tests
# (headless Rust WebRTC clients and headless Chromium with a fake camera and microphone).
#
# Needs: the Rust toolchain, Python 3 (aiortc is installed from PyPI into a venv for the WHIP
# tests), Debian's `chromium`, `firefox-esr`, `iptables`, `janus`, `iproute2` and `ffmpeg`
# packages, and root (one test blocks UDP on loopback; the load generator's smoke test gives Janus a
# loopback-range address on an interface of its own). When run as root on a machine
# with apt, missing packages are installed; otherwise the script stops and names them.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v "${LECTERN_CHROMIUM:-/usr/bin/chromium}" >/dev/null 2>&1 || need+=(chromium)
[ -x "${LECTERN_FIREFOX:-/usr/bin/firefox-esr}" ] || need+=(firefox-esr)
# The ICE-TCP test blocks UDP on loopback with iptables (and so runs as root).
command -v iptables >/dev/null 2>&1 || need+=(iptables)
# The load generator's smoke test compares with Janus, and gives Janus a loopback alias with `ip`.
[ -x "${LECTERN_JANUS:-/usr/bin/janus}" ] || need+=(janus)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# ffmpeg/ffprobe: the independent decoder that checks recordings, and the exporter.
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)

if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing: ${need[*]} (install them, e.g. 'sudo apt-get install ${need[*]}', and run again)" >&2
    exit 1
  fi
fi

# aiortc: the independent WHIP client of the WHIP tests (tests/whip/publish.py), in a venv under
# the target folder; installed once, then only checked.
venv="${CARGO_TARGET_DIR:-target}/whip-venv"
if ! "$venv/bin/python" -c "import aiortc" >/dev/null 2>&1; then
  if ! command -v python3 >/dev/null 2>&1; then
    echo "missing: python3 (the WHIP tests run aiortc; install Python 3 and run again)" >&2
    exit 1
  fi
  echo "==> installing aiortc in $venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    fi
    python3 -m venv "$venv" || { echo "missing: Python's venv module (Debian: python3-venv)" >&2; exit 1; }
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check "aiortc==1.16.0" \
    || { echo "could not install aiortc from PyPI into $venv" >&2; exit 1; }
fi
LECTERN_PYTHON="$(cd "$venv" && pwd)/bin/python"
export LECTERN_PYTHON

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test"
cargo test --workspace --locked -- --test-threads="${LECTERN_TEST_THREADS:-1}"
