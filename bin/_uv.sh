# Sourced by bin/run and bin/test: make sure `uv` is available (from PyPI, through pip).
if ! command -v uv >/dev/null 2>&1; then
  export PATH="$HOME/.local/bin:$PATH"
fi
if ! command -v uv >/dev/null 2>&1; then
  echo "Installing uv from PyPI (pip install --user uv)..." >&2
  python3 -m pip install --quiet --user uv 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages uv
  hash -r
fi
