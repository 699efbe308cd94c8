#!/usr/bin/env bash
# One entry point for a fresh Debian/Ubuntu machine:
#   ./dev.sh run    install what is needed, then open the app on the sandbox
#   ./dev.sh test   install what is needed, then run the whole test suite (what CI runs)
# Further arguments go to the app (run) or to pytest (test).
set -euo pipefail
cd "$(dirname "$0")"

VENV="${MBV_VENV:-.venv}"
PY="${PYTHON:-python3}"

# Libraries Qt needs without a screen (offscreen), plus a font: Qt ships none.
QT_DEBS=(libegl1 libgl1 libxkbcommon0 libfontconfig1 libfreetype6 libglib2.0-0 libdbus-1-3
         fonts-dejavu-core)
# Colour emoji and CJK glyphs for the editor and screenshots (the window works without).
FONT_DEBS=(fonts-noto-color-emoji fonts-noto-cjk)
# Extra libraries for a real window under X11 / Xvfb.
X11_DEBS=(libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
          libxcb-randr0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-xinerama0)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

install_debs() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || { say "not a Debian system: install ${missing[*]} yourself"; return 0; }
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

install_python() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtual environment in $VENV"
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.mbv-installed" want
  want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing Python packages"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".[dev]"
    echo "$want" > "$stamp"
  fi
}

cmd="${1:-}"
shift || true
case "$cmd" in
  run)
    install_debs "${QT_DEBS[@]}" "${X11_DEBS[@]}" "${FONT_DEBS[@]}"
    install_python
    if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
      install_debs xvfb xauth
      say "no screen here: the window opens on a virtual screen (Xvfb)."
      say "to see it, run: $VENV/bin/mbv-desktop --sandbox --screenshot window.png"
      exec xvfb-run -a "$VENV/bin/mbv-desktop" --sandbox "$@"
    fi
    exec "$VENV/bin/mbv-desktop" --sandbox "$@"
    ;;
  test)
    install_debs "${QT_DEBS[@]}"
    install_python
    export QT_QPA_PLATFORM=offscreen
    say "ruff"
    "$VENV/bin/ruff" check mbv_desktop tests bench
    say "mypy"
    "$VENV/bin/mypy"
    say "pytest"
    exec "$VENV/bin/python" -m pytest -q "$@"
    ;;
  *)
    echo "usage: ./dev.sh run|test [args...]" >&2
    exit 2
    ;;
esac
