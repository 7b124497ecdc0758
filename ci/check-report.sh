#!/usr/bin/env bash
# Open a kneepoint HTML report in headless Chromium and check that it renders offline:
#   - no console errors (uncaught exceptions, failed resource loads);
#   - the page requests nothing from the network: every host name resolves to nothing, and the
#     browser's net log is searched for resource loads the page itself started (Blink's resource
#     loader; the browser's own background traffic to update/account services is ignored);
#   - every inline SVG chart has a non-zero rendered size (the page's own script writes the
#     counts to <body data-charts data-charts-visible>, read back from the dumped DOM);
#   - a full-page screenshot is written for a person to look at.
#
# Usage: ci/check-report.sh REPORT.html [SCREENSHOT.png]
# Installs Debian's `chromium` with apt-get when no Chromium is on PATH.
set -euo pipefail

report=${1:?usage: ci/check-report.sh REPORT.html [SCREENSHOT.png]}
shot=${2:-${report%.html}.png}
[[ -f $report ]] || { echo "check-report: no such file: $report" >&2; exit 2; }

find_chromium() {
  local c
  for c in chromium chromium-browser google-chrome-stable google-chrome; do
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
  done
  return 1
}

if ! chrome=$(find_chromium); then
  echo "check-report: installing chromium with apt-get" >&2
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq chromium >/dev/null
  chrome=$(find_chromium) || { echo "check-report: chromium did not install" >&2; exit 2; }
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
url="file://$(cd "$(dirname "$report")" && pwd)/$(basename "$report")"

flags=(
  --headless --no-sandbox --disable-gpu --disable-background-networking
  --no-first-run --no-default-browser-check --disable-extensions --disable-sync
  --disable-component-update --disable-default-apps --hide-scrollbars
  --user-data-dir="$work/profile"
  # Any host name fails to resolve: an external request becomes a console error below.
  --host-resolver-rules="MAP * ~NOTFOUND"
  --enable-logging=stderr --v=0
  --virtual-time-budget=5000
)
# Traffic annotation id of Blink's resource loader (`blink_resource_loader`): loads the page
# asked for, as opposed to the browser's own update and account checks.
page_load_annotation=101845102

status=0
timeout 120 "$chrome" "${flags[@]}" --window-size=1280,900 --log-net-log="$work/net.json" \
  --dump-dom "$url" \
  >"$work/dom.html" 2>"$work/dump.log" || status=$?
if [[ $status -ne 0 ]]; then
  echo "check-report: chromium --dump-dom exited with $status" >&2
  tail -20 "$work/dump.log" >&2
  exit 1
fi

status=0
timeout 120 "$chrome" "${flags[@]}" --window-size=1280,4000 --screenshot="$shot" "$url" \
  >"$work/shot.out" 2>"$work/shot.log" || status=$?
if [[ $status -ne 0 || ! -s $shot ]]; then
  echo "check-report: chromium --screenshot failed (exit $status)" >&2
  tail -20 "$work/shot.log" >&2
  exit 1
fi

fail=0

# Console output of the page is logged as `...:CONSOLE(line)] "message", source: ...`;
# uncaught exceptions, failed loads (net::ERR_...) and anything the page's Content Security
# Policy blocked (a script or load that is not the report's own) are what we refuse.
if grep -hE 'CONSOLE|Uncaught|net::ERR_' "$work/dump.log" "$work/shot.log" \
    | grep -E 'Uncaught|[Ee]rror|net::ERR_|Content Security Policy|Refused|blocked' \
    >"$work/console.txt"; then
  echo "check-report: console errors:" >&2
  sort -u "$work/console.txt" >&2
  fail=1
fi

if [[ -s $work/net.json ]] \
    && grep -o "\"traffic_annotation\":$page_load_annotation,\"url\":\"[^\"]*\"" "$work/net.json" \
    | grep -v '"url":"\(file\|data\|blob\|about\):' >"$work/remote.txt"; then
  echo "check-report: the page made network requests:" >&2
  sort -u "$work/remote.txt" >&2
  fail=1
fi

body=$(grep -o '<body[^>]*>' "$work/dom.html" | head -1 || true)
charts=$(sed -n 's/.*data-charts="\([0-9]*\)".*/\1/p' <<<"$body")
visible=$(sed -n 's/.*data-charts-visible="\([0-9]*\)".*/\1/p' <<<"$body")
if [[ -z $charts || -z $visible ]]; then
  echo "check-report: the page script did not run (no data-charts on <body>)" >&2
  fail=1
elif [[ $charts -eq 0 ]]; then
  echo "check-report: the report has no charts" >&2
  fail=1
elif [[ $visible -ne $charts ]]; then
  echo "check-report: only $visible of $charts charts have a non-zero size" >&2
  fail=1
fi

# Belt and braces for what a headless load might not try: remote references in the markup.
if grep -Eq '<(script|img|link|iframe|source|video|audio)[^>]+(src|href)="[a-z]+:|url\([^)#]*[a-z]+:|@import' \
    "$report"; then
  echo "check-report: the page references an external resource" >&2
  fail=1
fi

if [[ $fail -ne 0 ]]; then
  exit 1
fi
echo "check-report: ok: $charts charts rendered, no console errors, screenshot $shot"
