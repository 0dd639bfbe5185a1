#!/bin/sh
# Installs the logflume agent on a Debian host (see agents/README.md). Idempotent: run it again to
# upgrade the binary or the unit; an existing /etc/logflume/agent.toml is never overwritten.
#
#   agents/install.sh [--binary PATH] [--config nginx|app|FILE] [--prefix DIR] [--start] [--dry-run]
#   agents/install.sh --uninstall [--purge] [--prefix DIR] [--dry-run]
#
#   --binary PATH   install this logflume binary (default: build one with `swift build -c release
#                   --product logflume` in the repository holding this script)
#   --config NAME   the sample that becomes /etc/logflume/agent.toml when that file does not exist
#                   yet: nginx (agents/nginx.toml, the default), app (agents/app.toml) or a file
#   --prefix DIR    install under DIR instead of / (a staging root: no user is created, no
#                   ownership is changed, systemctl is not called; the unit is enabled by its
#                   multi-user.target.wants link); for packaging and tests, needs no root
#   --start         also (re)start the service now (default: enabled, started at the next boot or by
#                   `systemctl start logflume-agent`, so the configuration can be edited first)
#   --dry-run       print what would be done, change nothing
#   --uninstall     stop and disable the service, remove the unit and the binary; the
#                   configuration and the state directory (checkpoints, spool) stay unless --purge
#
# What it puts where (under --prefix when given):
#   /usr/local/bin/logflume                        the binary (0755)
#   /etc/logflume/agent.toml                       from the chosen sample, only if missing (root:logflume 0640)
#   /usr/local/share/logflume/agent/               the samples, the unit and README.md, for reference
#   /etc/systemd/system/logflume-agent.service     the unit, enabled (multi-user.target)
#   /var/lib/logflume-agent                        state_dir (logflume:logflume 0750)
#   user and group `logflume` (system, no login, home /var/lib/logflume-agent), member of `adm`
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

binary=""
config=nginx
prefix=""
start=0
dry=0
uninstall=0
purge=0
while [ $# -gt 0 ]; do
    case $1 in
        --binary) [ $# -ge 2 ] || { echo "install.sh: --binary needs a path" >&2; exit 2; }; binary=$2; shift 2 ;;
        --binary=*) binary=${1#*=}; shift ;;
        --config) [ $# -ge 2 ] || { echo "install.sh: --config needs nginx, app or a file" >&2; exit 2; }; config=$2; shift 2 ;;
        --config=*) config=${1#*=}; shift ;;
        --prefix) [ $# -ge 2 ] || { echo "install.sh: --prefix needs a directory" >&2; exit 2; }; prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#*=}; shift ;;
        --start) start=1; shift ;;
        --dry-run|-n) dry=1; shift ;;
        --uninstall) uninstall=1; shift ;;
        --purge) purge=1; shift ;;
        -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ -n "$prefix" ]; then
    case $prefix in /*) ;; *) prefix=$(pwd)/$prefix ;; esac
    prefix=${prefix%/}
fi
bin_path=/usr/local/bin/logflume
etc_dir=/etc/logflume
config_path=$etc_dir/agent.toml
share_dir=/usr/local/share/logflume/agent
unit_name=logflume-agent.service
unit_path=/etc/systemd/system/$unit_name
wants_dir=/etc/systemd/system/multi-user.target.wants
state_dir=/var/lib/logflume-agent
user=logflume

# --- helpers -------------------------------------------------------------------------------------

say() { if [ "$dry" = 1 ]; then printf "install.sh: (dry run) %s\n" "$*"; else printf "install.sh: %s\n" "$*"; fi; }
# Quotes one word for display when it holds anything a shell would read specially.
quote() {
    case $1 in
        *[!A-Za-z0-9_./:=@%+,-]*|'') printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")" ;;
        *) printf '%s' "$1" ;;
    esac
}
# run CMD...: runs it, or prints it under --dry-run.
run() {
    if [ "$dry" = 1 ]; then
        printf '+'
        for word in "$@"; do printf ' %s' "$(quote "$word")"; done
        printf '\n'
    else
        "$@"
    fi
}
systemd_running() { [ -z "$prefix" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }
is_root() { [ "$(id -u)" = 0 ]; }

if [ -z "$prefix" ] && [ "$dry" = 0 ] && ! is_root; then
    echo "install.sh: run as root (sudo $0 ...), or use --prefix DIR to stage an install, or --dry-run" >&2
    exit 1
fi

# --- uninstall -----------------------------------------------------------------------------------

if [ "$uninstall" = 1 ]; then
    if systemd_running; then
        if systemctl is-active --quiet "$unit_name" 2>/dev/null; then run systemctl stop "$unit_name"; fi
        if systemctl is-enabled --quiet "$unit_name" 2>/dev/null; then run systemctl disable "$unit_name"; fi
    fi
    run rm -f "$prefix$wants_dir/$unit_name" "$prefix$unit_path" "$prefix$bin_path"
    run rm -rf "$prefix$share_dir"
    if [ "$dry" = 0 ]; then rmdir "$prefix${share_dir%/agent}" 2>/dev/null || true; fi
    if systemd_running; then run systemctl daemon-reload; fi
    if [ "$purge" = 1 ]; then
        run rm -rf "$prefix$etc_dir" "$prefix$state_dir"
        if [ -z "$prefix" ] && getent passwd "$user" >/dev/null 2>&1; then run userdel "$user"; fi
        if [ -z "$prefix" ] && getent group "$user" >/dev/null 2>&1; then run groupdel "$user"; fi
        say "removed the agent, its configuration, its state and the user $user"
    else
        say "removed the agent; kept $prefix$config_path and $prefix$state_dir (checkpoints: a reinstall resumes where it stopped; --purge removes them)"
    fi
    exit 0
fi

# --- the binary ----------------------------------------------------------------------------------

case $config in
    nginx|app) sample=$here/$config.toml ;;
    *) sample=$config ;;
esac
[ -f "$sample" ] || { echo "install.sh: no such sample configuration: $sample" >&2; exit 2; }

if [ -z "$binary" ]; then
    [ -f "$repo/Package.swift" ] || { echo "install.sh: no --binary given and $repo is not the logflume repository" >&2; exit 2; }
    command -v swift >/dev/null 2>&1 || {
        echo "install.sh: no --binary given and swift is not on PATH: build first (swift build -c release --product logflume)" >&2
        echo "            and pass --binary .build/release/logflume" >&2
        exit 2
    }
    say "building logflume (release)"
    if [ "$dry" = 1 ]; then
        run "$repo/scripts/build-release" --package-path "$repo" --product logflume
        binary=$repo/.build/release/logflume
    else
        # As the user who invoked sudo, so that .build stays theirs.
        if is_root && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ] && command -v runuser >/dev/null 2>&1; then
            runuser -u "$SUDO_USER" -- env PATH="$PATH" "$repo/scripts/build-release" --package-path "$repo" --product logflume
        else
            "$repo/scripts/build-release" --package-path "$repo" --product logflume
        fi
        binary=$(swift build --package-path "$repo" -c release --show-bin-path)/logflume
    fi
fi
if [ "$dry" = 0 ] && [ ! -x "$binary" ]; then
    echo "install.sh: $binary is not an executable file" >&2
    exit 2
fi

if [ -n "$prefix" ]; then say "staging into $prefix (no users, no ownership changes, no systemctl)"; fi

# --- user and group ------------------------------------------------------------------------------

if [ -z "$prefix" ]; then
    if ! getent group "$user" >/dev/null 2>&1; then
        run groupadd --system "$user"
    fi
    if ! getent passwd "$user" >/dev/null 2>&1; then
        run useradd --system --gid "$user" --groups adm --home-dir "$state_dir" --no-create-home \
            --shell /usr/sbin/nologin --comment "logflume agent" "$user"
    elif ! id -nG "$user" | tr ' ' '\n' | grep -qx adm; then
        run usermod --append --groups adm "$user"
    fi
fi

# --- files ---------------------------------------------------------------------------------------

run mkdir -p "$prefix/usr/local/bin" "$prefix$etc_dir" "$prefix$share_dir" "$prefix/etc/systemd/system" "$prefix$wants_dir"

if [ -f "$prefix$bin_path" ] && cmp -s "$binary" "$prefix$bin_path"; then
    say "$bin_path: unchanged"
else
    # Copied beside the target and renamed over it: a running agent keeps its old inode.
    run install -m 0755 "$binary" "$prefix$bin_path.new"
    run mv -f "$prefix$bin_path.new" "$prefix$bin_path"
    say "$bin_path: installed from $binary"
fi

for file in nginx.toml app.toml logflume-agent.service README.md; do
    run install -m 0644 "$here/$file" "$prefix$share_dir/$file"
done

if [ -e "$prefix$config_path" ]; then
    say "$config_path: exists, kept (the samples are in $share_dir)"
else
    if [ -z "$prefix" ]; then
        run install -m 0640 -o root -g "$user" "$sample" "$prefix$config_path"
    else
        run install -m 0640 "$sample" "$prefix$config_path"
    fi
    say "$config_path: created from $sample"
fi

unit_changed=1
if [ -f "$prefix$unit_path" ] && cmp -s "$here/logflume-agent.service" "$prefix$unit_path"; then
    unit_changed=0
    say "$unit_path: unchanged"
else
    run install -m 0644 "$here/logflume-agent.service" "$prefix$unit_path"
    say "$unit_path: installed"
fi

if [ -z "$prefix" ]; then
    run install -d -m 0750 -o "$user" -g "$user" "$prefix$state_dir"
else
    run install -d -m 0750 "$prefix$state_dir"
fi

# --- the service ---------------------------------------------------------------------------------

if systemd_running; then
    if [ "$unit_changed" = 1 ]; then run systemctl daemon-reload; fi
    run systemctl enable "$unit_name"
else
    # What `systemctl enable` does for WantedBy=multi-user.target (works without a running systemd).
    if [ "$(readlink "$prefix$wants_dir/$unit_name" 2>/dev/null || true)" != "$unit_path" ]; then
        run ln -sfn "$unit_path" "$prefix$wants_dir/$unit_name"
    fi
    if [ -z "$prefix" ]; then say "systemd is not running here: the unit is enabled for the next boot"; fi
fi

# The configuration must pass before anything starts (skipped while the binary has no agent yet).
checked=0
if [ -z "$prefix" ] && [ "$dry" = 0 ]; then
    case $("$bin_path" agent --help 2>/dev/null || true) in
        *"USAGE: logflume agent"*)
            if runuser -u "$user" -- "$bin_path" agent --check-config --config "$config_path"; then
                checked=1
            else
                echo "install.sh: $config_path does not pass --check-config (above); fix it, then: systemctl restart $unit_name" >&2
                exit 1
            fi ;;
        *) say "this logflume has no agent subcommand yet: configuration not checked" ;;
    esac
fi

if [ "$start" = 1 ]; then
    if systemd_running; then
        run systemctl restart "$unit_name"
        say "started: systemctl status $unit_name; journalctl -u $unit_name -f"
    else
        say "--start: systemd is not running here (or --prefix): start it by hand"
    fi
elif systemd_running && systemctl is-active --quiet "$unit_name" 2>/dev/null; then
    say "the agent is running the previous version: systemctl restart $unit_name (lossless)"
else
    say "done: edit $config_path$([ "$checked" = 1 ] && echo ' (it passes --check-config)'), then: systemctl start $unit_name"
fi
