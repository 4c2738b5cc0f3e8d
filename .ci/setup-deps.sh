#!/usr/bin/env bash
# Installs the system packages and Python tools that runlens's tests use. Idempotent:
# what is already present is not fetched again.
set -euo pipefail
need_apt=()
need_pip=()
want() { dpkg -s "$1" >/dev/null 2>&1 || need_apt+=("$1"); }
want_pip() { python3 -c "import $2" >/dev/null 2>&1 || need_pip+=("$1"); }

# --- what the tests need: add `want DEBIAN_PACKAGE` / `want_pip PYPI_NAME MODULE` lines here ---

# the lake must be readable unchanged by DuckDB and pandas (tests/interop.rs)
want_pip duckdb duckdb
want_pip pandas pandas
want_pip pyarrow pyarrow
# pgBadger cross-check of PostgreSQL normalization (ingest/tests/pgbadger_crosscheck.rs);
# its Perl modules are Depends, perl runs the extracted normalize_query
want pgbadger
want perl
# reports (reports/tests): report.html opened in headless Chromium (XSS, screenshot);
# a real SMTP server on loopback receiving the emailed report
want chromium
want_pip aiosmtpd aiosmtpd
# certificates of a private CA for the STARTTLS/TLS tests
want openssl
# --- end of list ---

# A real S3 protocol server (SigV4-checking) for the s3:// input tests (ingest/tests/s3.rs),
# built once into ~/.cache/runlens-tools.
tools="${RUNLENS_TOOLS:-$HOME/.cache/runlens-tools}"
if [ ! -x "$tools/bin/s3s-fs" ]; then
  cargo install --quiet --locked s3s-fs --version 0.14.1 --features binary --root "$tools"
fi
# cargo-hakari checks that the workspace-hack crate (workspace-hack/, .config/hakari.toml)
# is up to date (scripts/test), into the same folder.
hakari_version=0.9.39
if ! "$tools/bin/cargo-hakari" --version 2>/dev/null | grep -qx "cargo-hakari $hakari_version"; then
  cargo install --quiet --locked cargo-hakari --version "$hakari_version" --root "$tools"
fi

if ((${#need_apt[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
if ((${#need_pip[@]})); then
  python3 -m pip install --quiet --disable-pip-version-check "${need_pip[@]}"
fi
