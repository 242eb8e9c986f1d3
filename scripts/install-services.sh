#!/usr/bin/env bash
# Install the PostgreSQL and Redis server binaries that tests/app and scripts/bench_app.py start
# on loopback themselves, and Graphviz (`dot`), which renders docs/architecture.png and lays out
# the diagram in tests/environments/test_diagram.py. Idempotent and non-interactive; never leaves
# the system services running.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

have_postgres() { compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; }
have_redis() { command -v redis-server >/dev/null 2>&1; }
have_dot() { command -v dot >/dev/null 2>&1; }

packages=()
have_postgres || packages+=(postgresql)
have_redis || packages+=(redis-server)
have_dot || packages+=(graphviz)

if [ "${#packages[@]}" -eq 0 ]; then
  echo "install-services: postgresql, redis-server and graphviz already present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-services: must run as root to install ${packages[*]}" >&2
  exit 1
fi

# Keep dpkg from starting the services: the tests run their own instances on free ports.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

apt-get update -q
apt-get install -y -q --no-install-recommends "${packages[@]}"

# Where an init system did start them anyway, stop them (ignore failures: no systemd in CI).
for svc in postgresql redis-server; do
  service "$svc" stop >/dev/null 2>&1 || true
done

have_postgres && have_redis && have_dot
echo "install-services: installed ${packages[*]}"
