# issue 27 (session 14): the fresh-clone demo's report (c20ad55, `vqtool demo`) rendered by headless Chromium
# (Debian's chromium package: apt-get install chromium), 1300 px wide; report-headless-s14.jpg is it at half size.
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir=/tmp/chr-profile --hide-scrollbars \
  --window-size=1300,9000 --screenshot=/tmp/report-full.png file://$PWD/demo/report.html
