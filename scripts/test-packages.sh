#!/bin/sh
# The Debian packages `make test` needs beside Python, installed where they are missing:
# - postgresql: the task store's tests start a real PostgreSQL server on loopback
#   (tests/workers/conftest.py); Debian keeps its programs in /usr/lib/postgresql/*/bin;
# - chromium: the dashboard page is loaded in headless Chromium (tests/workers/test_dashboard_page.py).
# As root with apt-get (CI, a fresh container) they are installed; otherwise one line says
# what to install and the script fails, before the tests fail one by one.
set -eu

missing=""
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
then
    missing="$missing postgresql"
fi
if ! command -v chromium >/dev/null 2>&1; then
    missing="$missing chromium"
fi
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "make test needs Debian packages:$missing (run: sudo apt-get install -y$missing)" >&2
    exit 1
fi
echo "installing Debian packages the tests need:$missing"
apt-get update -qq
# shellcheck disable=SC2086  # one word per package
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
