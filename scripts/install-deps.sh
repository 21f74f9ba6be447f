#!/usr/bin/env bash
# Installs the Debian packages named as arguments when they are missing, with apt-get as root
# or through sudo; otherwise prints the install command for common package managers and stops.
set -u
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Without dpkg (not Debian): check for what the packages provide.
if ! command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  command -v tmux >/dev/null 2>&1 || missing+=(tmux)
  [ -e /usr/include/ncursesw/ncurses.h ] || [ -e /usr/include/ncurses.h ] || missing+=(libncurses-dev)
  [ -e /usr/include/sqlite3.h ] || missing+=(libsqlite3-dev)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "berth needs: ${missing[*]}"
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" && exit 0
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" && exit 0
  fi
fi
cat >&2 <<MSG
Install them, then run make again:
  apt:     sudo apt-get install tmux libncurses-dev libsqlite3-dev
  dnf:     sudo dnf install tmux ncurses-devel sqlite-devel
  pacman:  sudo pacman -S tmux ncurses sqlite
  Homebrew: brew install tmux ncurses sqlite
MSG
exit 1
