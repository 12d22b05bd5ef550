# Sourced by scripts that need Python tools from PyPI (schemathesis, the deployment
# validators): installs them once into a folder of target/, in a virtualenv, or with
# `pip install --target` where Debian's python3 has no venv module.
#
#   install_python_tools DIR REQUIREMENT...   # 0 when installed (or already there)
#   use_python_tools DIR                      # puts them on PATH / PYTHONPATH

install_python_tools() {
    local dir=$1 want stamp
    shift
    stamp="$dir/installed.txt"
    want=$(printf '%s\n' "$@")
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    local pip_flags=(--quiet --disable-pip-version-check --no-input)
    export PIP_ROOT_USER_ACTION=ignore
    if python3 -m venv "$dir/venv" >/dev/null 2>&1 && [[ -x "$dir/venv/bin/pip" ]]; then
        "$dir/venv/bin/python" -m pip install "${pip_flags[@]}" "$@" || return 1
    else
        rm -rf "$dir/venv"
        python3 -m pip install "${pip_flags[@]}" --target "$dir/lib" "$@" || return 1
    fi
    echo "$want" >"$stamp"
}

use_python_tools() {
    local dir=$1
    if [[ -d "$dir/venv" ]]; then
        export PATH="$dir/venv/bin:$PATH"
        PY="$dir/venv/bin/python"
    else
        export PYTHONPATH="$dir/lib${PYTHONPATH:+:$PYTHONPATH}"
        export PATH="$dir/lib/bin:$PATH"
        PY=python3
    fi
}
