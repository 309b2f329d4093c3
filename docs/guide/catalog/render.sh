#!/usr/bin/env bash
# Regenerates the shop's catalogue shown in docs/guide/application.md (tests/docs checks it):
# the three outputs of the command, and shop.svg rendered from shop.mmd with Mermaid's CLI
# (npm's @mermaid-js/mermaid-cli; MMDC names it, PUPPETEER_CONFIG a puppeteer config naming a
# browser, e.g. {"executablePath": "/usr/bin/chromium", "args": ["--no-sandbox"]}).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../examples"
python -m eventbus catalog shop.app:bus >"$here/shop.txt"
python -m eventbus catalog shop.app:bus --format json >"$here/shop.json"
python -m eventbus catalog shop.app:bus --format mermaid >"$here/shop.mmd"
"${MMDC:-mmdc}" ${PUPPETEER_CONFIG:+-p "$PUPPETEER_CONFIG"} -c "$here/mermaid-config.json" -b white \
  -i "$here/shop.mmd" -o "$here/shop.svg"
echo "<!-- rendered from shop.mmd, sha256 $(sha256sum "$here/shop.mmd" | cut -d' ' -f1) -->" >>"$here/shop.svg"
