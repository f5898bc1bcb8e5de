#!/usr/bin/env bash
# Installs the rendering environment: TeX Live (pdflatex + amsmath + preview) and Ghostscript
# from Debian packages. Idempotent: returns at once when everything is already there.
# Elsewhere (macOS, other distros) install TeX Live with pdflatex, amsmath and preview yourself;
# markupeval only needs `pdflatex` and `kpsewhich` on PATH.
set -euo pipefail

packages=(
  texlive-latex-base          # pdflatex, LaTeX format, article class
  texlive-latex-recommended   # amsmath (through latex-base/required), preview dependencies
  texlive-fonts-recommended   # Type 1 Computer Modern / AMS fonts, so PDFs hold outlines, not bitmaps
  preview-latex-style         # preview.sty: one tight page per formula
  ghostscript                 # the original protocol's rasteriser, kept for the compatibility check
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "render/setup.sh: TeX Live already installed ($(pdflatex --version | head -n 1))"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "render/setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "render/setup.sh: $(pdflatex --version | head -n 1)"
