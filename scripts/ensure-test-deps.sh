#!/usr/bin/env bash
# Installs the real programs the integration tests run (OpenSSH server and client, rsync, tmux to drive
# prompts, Chromium for the web pages, a PostgreSQL server for the store contract) when they are
# missing, on Debian as root; elsewhere says what to install. Run by `npm test` and by .ci/run.
set -euo pipefail
need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 && command -v ssh-agent >/dev/null 2>&1 || need+=(openssh-client)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v curl >/dev/null 2>&1 || need+=(curl)
# Agentless nodes: rsync -e ssh through the proxy (both ends run on this machine).
command -v rsync >/dev/null 2>&1 || need+=(rsync)
command -v asciinema >/dev/null 2>&1 || need+=(asciinema)
# A real no-echo password prompt for the search tests (a password typed there is never indexed).
command -v sudo >/dev/null 2>&1 || need+=(sudo)
[ -x /usr/bin/chromium ] || need+=(chromium)
# test/helpers/postgres.ts runs initdb and postgres from Debian's /usr/lib/postgresql/<version>/bin.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
# test/helpers/prometheus.ts starts Debian's prometheus with its own config, TSDB and free port.
[ -x /usr/bin/prometheus ] || need+=(prometheus)
# systemd-analyze verify checks the unit `teleport install systemd` writes.
[ -x /usr/bin/systemd-analyze ] || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing test dependencies: ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # Packages' own services (prometheus on :9090, postgresql) must not start here: the tests start
    # their own on free ports, and a container has no init to run them. A policy-rc.d that denies
    # every start does that (invoke-rc.d and deb-systemd-invoke obey it); removed afterwards unless
    # the machine already had one.
    own_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d && own_policy=1
    fi
    trap 'if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
    apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "${need[@]}"; }
  else
    echo "ERROR: the tests need ${need[*]}; install them (e.g. sudo apt-get install -y ${need[*]})" >&2
    exit 1
  fi
fi
# sshd's privilege separation directory (Debian creates it at boot, containers often lack it).
if [ "$(id -u)" = 0 ]; then mkdir -p /run/sshd && chmod 0755 /run/sshd; fi
