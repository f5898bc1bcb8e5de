#!/usr/bin/env bash
# Installs the rendering environment: TeX Live (pdflatex + amsmath + preview) and Ghostscript
# from Debian packages. Idempotent: returns at once when everything is already there.
# Elsewhere (macOS, other distros) see render/README.md: markupeval needs `pdflatex`, `kpsewhich`
# and `gs` on PATH, the LaTeX base and amsmath, and the Type 1 Computer Modern fonts.
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

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "render/setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Check what the renderer actually uses (fast: no TeX run), so a broken install fails here and not
# as a zero score: the LaTeX format, the class and packages of the templates, the Type 1 fonts
# (without them pdflatex falls back to bitmap fonts, which measurably change the images), gs.
for tool in pdflatex kpsewhich gs; do
  command -v "$tool" >/dev/null || { echo "render/setup.sh: $tool not found on PATH" >&2; exit 1; }
done
kpsewhich -engine=pdftex pdflatex.fmt >/dev/null || { echo "render/setup.sh: the pdflatex format is missing (fmtutil-sys --all)" >&2; exit 1; }
for file in article.cls size12.clo amsmath.sty cmr12.pfb cmmi12.pfb cmsy10.pfb cmex10.pfb; do
  kpsewhich "$file" >/dev/null || { echo "render/setup.sh: TeX file $file not found (kpsewhich)" >&2; exit 1; }
done
echo "render/setup.sh: ok ($(pdflatex --version | head -n 1); Ghostscript $(gs --version))"
