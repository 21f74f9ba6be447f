#!/bin/sh
# Makes the PNGs in screenshots/ from scratch: the real panel, in a real terminal emulator
# (xterm under Xvfb), over a realistic set of sessions: a web app's API server with traffic,
# a long build, a log tail, notes in vim, a docs session with a CJK name, two sessions lost
# to a simulated reboot, one killed on purpose and an orphan.
#
#   screenshots/panel.png            the main list with a live preview (the README's picture)
#   screenshots/restore-prompt.png   the prompt at start after the "reboot"
#   screenshots/help.png             the ? help screen
#   screenshots/settings.png         the , settings screen
#   screenshots/dead-and-orphans.png a dead session's last output, orphans and stale records
#   screenshots/workspaces.png       the list grouped by workspace (w), one group folded
#   screenshots/narrow.png           the same at 80x24
#
# Everything runs in a private temporary directory: its own TMUX_TMPDIR (so its tmux servers
# are not the user's), HOME, XDG_STATE_HOME and XDG_CONFIG_HOME. Every server, terminal and
# helper process this script starts is stopped at the end, and nothing else is touched.
#
# Usage: scripts/screenshots.sh   (make screenshots)
# Needs: apt-get install xvfb xauth xterm imagemagick fonts-dejavu-core fonts-wqy-microhei
set -eu

cd "$(dirname "$0")/.."
repo=$(pwd)
shots=$repo/screenshots

if [ "${1:-}" != --inside-x ]; then
  missing=""
  for tool in xvfb-run xauth xterm import convert tmux python3 make vim curl; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
  done
  fc-list 2>/dev/null | grep -q "DejaVu Sans Mono" || missing="$missing fonts-dejavu-core"
  fc-list 2>/dev/null | grep -q "WenQuanYi Micro Hei" || missing="$missing fonts-wqy-microhei"
  if [ -n "$missing" ]; then
    echo "screenshots: missing:$missing" >&2
    echo "  apt-get install xvfb xauth xterm imagemagick fonts-dejavu-core fonts-wqy-microhei tmux vim curl make python3" >&2
    exit 1
  fi
  swift build --product berth >&2
  BERTH_BIN="$(swift build --show-bin-path)/berth"
  export BERTH_BIN
  # xvfb-run starts a private X server on a free display and stops it when we return.
  exec xvfb-run -a -s "-screen 0 1600x1000x24 -nolisten tcp" "$0" --inside-x
fi

# ------------------------------------------------------------------------------------------
# Inside the X server from here on.

berth=$BERTH_BIN
work=$(mktemp -d "${TMPDIR:-/tmp}/berth-shots.XXXXXX")
helpers=""   # pids of the processes this script starts (terminals, log writers, traffic)

cleanup() {
  status=$?
  for pid in $helpers; do kill "$pid" 2>/dev/null || true; done
  # Only this script's servers: their sockets live in its own TMUX_TMPDIR.
  tmux -L view kill-server 2>/dev/null || true
  tmux -L main kill-server 2>/dev/null || true
  # The servers' shells write their history files as they exit: let them finish.
  tries=0
  while tmux -L main list-sessions > /dev/null 2>&1 || tmux -L view list-sessions > /dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -le 50 ] || break
    sleep 0.1
  done
  sleep 1
  rm -rf "$work" 2>/dev/null || { sleep 2; rm -rf "$work"; }
  exit "$status"
}
trap cleanup EXIT INT TERM HUP

export TMUX_TMPDIR="$work/tmux" HOME="$work/home" XDG_STATE_HOME="$work/state" XDG_CONFIG_HOME="$work/config"
export SHELL=/bin/bash LANG=C.UTF-8 LC_ALL=C.UTF-8 EDITOR=vim
export PATH="/usr/local/bin:/usr/bin:/bin"
unset TMUX TMUX_PANE BERTH_FAKE_BOOT_TIME NO_COLOR BERTH_TMUX
mkdir -p "$TMUX_TMPDIR" "$HOME" "$shots"
# A config file as people keep one (under HOME, so the settings screen shows it as ~/...).
export XDG_CONFIG_HOME="$HOME/.config"
mkdir -p "$XDG_CONFIG_HOME/berth"
cat > "$XDG_CONFIG_HOME/berth/config.toml" <<'TOML'
# berth settings
historyLimit = 50000        # long builds
sessionTTLDays = 14
envAllowList = ["LANG", "LC_*", "EDITOR", "VIRTUAL_ENV", "AWS_PROFILE"]

[palette]
accent = 75
TOML

say() { echo "screenshots: $*" >&2; }

# Waits until the panel's pane shows TEXT (a fixed string), for at most 20 seconds.
wait_for() {
  tries=0
  until tmux -L view capture-pane -p -t panel 2>/dev/null | grep -qF -- "$1"; do
    tries=$((tries + 1))
    if [ "$tries" -gt 100 ]; then
      say "the panel never showed '$1'; it shows:"
      tmux -L view capture-pane -p -t panel >&2 || true
      exit 1
    fi
    sleep 0.2
  done
}

# Presses KEYS (tmux key names) in the panel, one by one.
press() {
  for key in "$@"; do
    tmux -L view send-keys -t panel "$key"
    sleep 0.3
  done
}

# Presses KEY until the panel shows TEXT (for moving the selection to a given session).
press_until() {
  key=$1
  text=$2
  tries=0
  until tmux -L view capture-pane -p -t panel | grep -qF -- "$text"; do
    tries=$((tries + 1))
    [ "$tries" -le 30 ] || { say "'$key' never got the panel to '$text'"; exit 1; }
    press "$key"
  done
}

# Opens an xterm of COLSxROWS on the panel and remembers its window.
open_terminal() {
  rm -f "$work/window-id"
  xterm -geometry "$1+0+0" -fa "DejaVu Sans Mono" -fs 11 -tn xterm-256color \
    -bg "#1c1e22" -fg "#d0d3d8" -b 10 -bw 0 +sb \
    -xrm "XTerm*faceNameDoublesize: WenQuanYi Micro Hei Mono" \
    -xrm "XTerm*cursorColor: #d0d3d8" -T "berth" \
    -e sh -c 'echo "$WINDOWID" > "$0"; exec tmux -L view attach -t panel' "$work/window-id" &
  terminal=$!
  helpers="$helpers $terminal"
  tries=0
  until [ -s "$work/window-id" ]; do
    tries=$((tries + 1))
    [ "$tries" -le 100 ] || { say "xterm did not start"; exit 1; }
    sleep 0.1
  done
  window=$(cat "$work/window-id")
  sleep 1
}

close_terminal() {
  kill "$terminal" 2>/dev/null || true
  wait "$terminal" 2>/dev/null || true
}

# Captures the terminal's window into screenshots/NAME.png (metadata stripped, so the file
# changes only when the picture does).
shoot() {
  sleep 1.2  # let xterm finish drawing what tmux sent
  import -window "$window" "$work/shot.png"
  convert "$work/shot.png" -strip "$shots/$1.png"
  say "wrote screenshots/$1.png"
}

# ------------------------------------------------------------------------------------------
# A small, believable home: two projects, infrastructure, notes, dotfiles, docs.

src=$HOME/src
mkdir -p "$src/shop/api/public/orders" "$src/shop/web/src" "$src/infra" "$src/docs/guide" \
  "$HOME/notes" "$HOME/dotfiles"
cat > "$HOME/.profile" <<'EOF'
PS1='dev@devbox:\w\$ '
export PATH=/usr/local/bin:/usr/bin:/bin
EOF
cp "$HOME/.profile" "$HOME/.bashrc"

echo '[{"id": 1042, "total": "59.90"}]' > "$src/shop/api/public/orders/index.json"
echo '{"status": "ok"}' > "$src/shop/api/public/health"

# A real make running a real (slow) recipe: the long build.
modules="cart checkout catalog search payments shipping invoices accounts auth session \
  inventory pricing coupons reviews wishlist notify mailer reports export import sitemap \
  feeds admin audit metrics cache queue worker scheduler webhooks"
for m in $modules; do
  printf 'int %s_init(void) { return 0; }\n' "$m" > "$src/shop/web/src/$m.c"
done
cat > "$src/shop/web/Makefile" <<'EOF'
SRCS := $(wildcard src/*.c)
OBJS := $(SRCS:src/%.c=build/%.o)

shop: $(OBJS)
	@echo "  LD      $@"
	@sleep 2

build/%.o: src/%.c
	@mkdir -p build
	@echo "  CC      $<"
	@sleep 3
	@cc -O2 -c $< -o $@ 2>/dev/null || touch $@
EOF

# The database migration that was running when the machine "rebooted".
cat > "$src/shop/api/migrate.py" <<'EOF'
import time
steps = ["0040_orders_status", "0041_orders_currency", "0042_orders_index_created_at",
         "0043_customers_email_unique", "0044_invoices_backfill"]
for step in steps[:-1]:
    print(f"Applying shop.{step}... OK", flush=True)
    time.sleep(0.2)
print(f"Applying shop.{steps[-1]}... 18342/52210 rows", flush=True)
time.sleep(3600)
EOF

cat > "$src/infra/main.tf" <<'EOF'
module "shop_db" {
  source         = "./modules/postgres"
  instance_class = "db.t4g.medium"
  storage_gb     = 200
}

module "shop_cache" {
  source    = "./modules/redis"
  node_type = "cache.t4g.small"
}
EOF

cat > "$HOME/notes/todo.md" <<'EOF'
# This week

- [x] orders: index on created_at (0042)
- [ ] invoices backfill: resume after the maintenance window
- [ ] checkout: retry payment webhooks with backoff
- [ ] write the on-call notes for the cache migration
- [ ] review Ana's search ranking PR

## Later

- move staging to the new cluster
- drop the old coupons table
EOF

printf '# 用户指南\n\n安装、配置与常见问题。\n' > "$src/docs/guide/index.md"
printf '# 发布说明\n' > "$src/docs/guide/releases.md"
printf '# 常见问题\n' > "$src/docs/guide/faq.md"

(
  cd "$HOME/dotfiles"
  git init -q
  git config user.name "Dev"
  git config user.email "dev@example.com"
  for change in "bash: shorter prompt" "vim: spell-check markdown" "git: rebase by default" \
    "tmux: mouse on" "ssh: ControlMaster for the build hosts"; do
    echo "$change" >> CHANGES
    git add CHANGES
    git commit -q -m "$change"
  done
)

# ------------------------------------------------------------------------------------------
# Before the "reboot": two sessions at work, saved by a snapshot, then the server dies.

say "sessions from before the simulated reboot (about 30 s)"
# The machine "boots" in 30 seconds. Every berth process, including those the tmux server
# runs from its hooks, must see that boot time, so it is set before the first server starts.
boot=$(($(date +%s) + 30))
BERTH_FAKE_BOOT_TIME=$boot
export BERTH_FAKE_BOOT_TIME
"$berth" -L main new --name infra --workspace ops --tag terraform --cwd "$src/infra" > /dev/null
"$berth" -L main new --name db-migrate --workspace shop --tag postgres --cwd "$src/shop/api" > /dev/null
sleep 1
"$berth" -L main send infra --enter -- "vim main.tf"
"$berth" -L main send db-migrate --enter -- "python3 migrate.py --database shop"
sleep 2
"$berth" -L main snapshot > /dev/null
tmux -L main kill-server
while tmux -L main list-sessions > /dev/null 2>&1; do sleep 0.1; done
if [ "$(date +%s)" -ge "$boot" ]; then
  say "the sessions before the reboot took longer than 30 s to set up: they will show as vanished"
fi
while [ "$(date +%s)" -le "$boot" ]; do sleep 0.5; done
"$berth" -L main list > /dev/null

# ------------------------------------------------------------------------------------------
# After it: today's sessions.

say "today's sessions"
port=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 20000))
"$berth" -L main new --name api --workspace shop --tag backend --cwd "$src/shop/api/public" > /dev/null
"$berth" -L main new --name build --workspace shop --tag ci --cwd "$src/shop/web" > /dev/null
"$berth" -L main new --name logs --workspace shop --cwd "$src/shop/api" > /dev/null
notes=$("$berth" -L main new --name notes --workspace personal --cwd "$HOME/notes")
"$berth" -L main new --name dotfiles --cwd "$HOME/dotfiles" > /dev/null
"$berth" -L main new --name "文档" --workspace docs --tag zh --cwd "$src/docs" > /dev/null
"$berth" -L main new --name scratch --cwd /tmp > /dev/null
"$berth" -L main kill scratch > /dev/null
# An orphan: a session with berth's prefix that berth has no record of.
tmux -L main new-session -d -s berth-7c1e9a20 -c "$src/infra" -x 120 -y 36
sleep 1

touch "$src/shop/api/access.log"
"$berth" -L main send api --enter -- "python3 -m http.server $port --bind 127.0.0.1"
"$berth" -L main send build --enter -- "make -j2"
"$berth" -L main send logs --enter -- "tail -f access.log"
"$berth" -L main send notes --enter -- "vim todo.md"
"$berth" -L main send dotfiles --enter -- "git log --oneline --decorate"
"$berth" -L main send "文档" --enter -- "ls -l guide"
tmux -L main send-keys -t berth-7c1e9a20 "terraform fmt -check" Enter

# Traffic for the API server, and the access log the log session follows.
(
  paths="orders/ health orders/index.json missing cart/ health"
  while :; do
    for p in $paths; do
      curl -s -o /dev/null "http://127.0.0.1:$port/$p" || true
      sleep 0.6
    done
  done
) &
helpers="$helpers $!"
(
  n=0
  while :; do
    n=$((n + 1))
    case $((n % 5)) in
      0) line="POST /api/checkout 201 84ms user=4821" ;;
      1) line="GET  /api/orders?page=2 200 12ms user=4821" ;;
      2) line="GET  /api/catalog/search?q=lamp 200 31ms" ;;
      3) line="GET  /api/cart 200 5ms user=977" ;;
      *) line="POST /api/webhooks/payments 202 9ms" ;;
    esac
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $line" >> "$src/shop/api/access.log"
    sleep 0.7
  done
) &
helpers="$helpers $!"
sleep 4

# ------------------------------------------------------------------------------------------
# The panel, in a pane of a second private server that the terminal attaches to.

cat > "$work/view.conf" <<'EOF'
set -g default-terminal "tmux-256color"
set -g status off
set -g escape-time 0
set -g mouse off
EOF
tmux -L view -f "$work/view.conf" new-session -d -s panel -x 120 -y 36 \
  "cd '$src' && exec env -u TMUX '$berth' -L main"
# Someone working in the notes session: a real client attached to it.
tmux -L view new-session -d -s client -x 120 -y 36 "exec env -u TMUX tmux -L main attach -t '=berth-$notes'"

say "startup restore prompt"
wait_for "from your previous session"
open_terminal 120x36
shoot restore-prompt

say "main list with a live preview"
press i
wait_for "Preview"
press_until j "Preview · build"
sleep 3  # a few more lines of build output
shoot panel

say "help"
press "?"
wait_for "Keys · Esc closes"
shoot help
press Escape

say "settings"
press ","
wait_for "SETTING"
press_until j "Scrollback lines"
shoot settings
press Escape

say "dead and orphan sessions"
press_until j "Last output · db-migrate"
shoot dead-and-orphans

say "grouped by workspace"
press w g
wait_for "▾ docs"
press_until j "personal · 1 session"
press Left
wait_for "▸ personal"
press_until j "Preview · build"
shoot workspaces
press w
press_until k "Preview · build"
close_terminal

say "narrow 80x24"
open_terminal 80x24
wait_for "build"
shoot narrow
close_terminal

press q
say "done"
