# Shared by scripts/start and scripts/test (sourced, not run).

# apt_missing PKG...: the packages of the list that are not installed (one line).
apt_missing() {
  local pkg out=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || out+=("$pkg"); done
  echo "${out[*]}"
}

# apt_install PKG...: install the Debian packages that are missing. As root it runs apt-get; otherwise
# it says why it needs root and asks sudo. It waits (up to 10 minutes) for apt's lock when another
# apt or dpkg (unattended-upgrades, say) holds it.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null; then
      echo "error: these Debian packages are needed: ${missing[*]}" >&2
      echo "       run as root, or install them: apt-get install ${missing[*]}" >&2
      exit 1
    fi
    echo "root is needed to install Debian packages: ${missing[*]} (asking sudo)" >&2
    sudo=(sudo)
  fi
  if command -v fuser >/dev/null && fuser /var/lib/dpkg/lock-frontend >/dev/null 2>&1; then
    echo "waiting for apt's lock: another apt or dpkg is running" >&2
  fi
  local lock=(-o DPkg::Lock::Timeout=600)
  "${sudo[@]}" apt-get "${lock[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# use_python: set PY to a Python 3.11+ that may pip install: python3 itself, or, where the system
# refuses pip installs (PEP 668, Debian and Ubuntu's own Python), the virtual environment .venv.
use_python() {
  if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: P2PDB needs Python 3.11 or later (python3 is $(python3 --version 2>&1))" >&2
    exit 1
  fi
  PY=python3
  if [ -x .venv/bin/python ]; then
    PY=.venv/bin/python
  elif python3 -c 'import os, sys, sysconfig
managed = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
sys.exit(0 if managed and sys.prefix == sys.base_prefix else 1)'; then
    echo "this system's Python refuses pip installs: using a virtual environment in .venv" >&2
    python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
    python3 -m venv .venv
    PY=.venv/bin/python
  fi
}

# native_debs: the Debian packages that build P2PDB's C text functions (src/p2pdb/store/_collate.c,
# src/p2pdb/sql/_like.c): a C compiler, SQLite's sqlite3ext.h, and Python.h where python3 lacks it.
native_debs() {
  local debs=(gcc libsqlite3-dev)
  python3 -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null \
    || debs+=(python3-dev)
  echo "${debs[*]}"
}
