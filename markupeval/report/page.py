"""The report's single HTML page: inline CSS, inline data, inline script (no network resources)."""

from __future__ import annotations

import html
from typing import Any, Sequence

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em;color:#222}
h1{font-size:22px} h2{font-size:18px;margin-top:1.6em}
table{border-collapse:collapse}
th,td{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
th{border-bottom:2px solid #333;background:#fafafa}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code.sig{word-break:break-all;font-size:12px}
#samples th.sortable{cursor:pointer;user-select:none}
#samples th.sorted-asc::after{content:" \\25B2"} #samples th.sorted-desc::after{content:" \\25BC"}
#samples td.tex{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;max-width:26em;word-break:break-word}
#samples td.pics{max-width:560px;overflow-x:auto}
#samples td.pics img{display:block;height:auto;border:1px solid #eee;margin:2px 0}
#samples td.pics .lbl{font-size:11px;color:#666}
tr.bad td{background:#fff3f3} tr.good td{background:#f4fbf4}
.status{font-size:11px;padding:1px 4px;border-radius:3px;background:#eee}
.status.error,.status.timeout,.status.too_large{background:#fdd}
.status.missing{background:#ffe9c6}
#controls{display:flex;gap:1em;align-items:center;flex-wrap:wrap;margin:0.8em 0}
#controls label{font-size:14px}
.legend span{display:inline-block;width:12px;height:12px;vertical-align:middle;margin:0 4px 0 10px}
pre.msg{white-space:pre-wrap;font-size:12px;margin:0;max-width:60em}
.muted{color:#777;font-size:13px}
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("sample-data").textContent);
  var PAGE = 50;
  var state = {sort: "i", dir: "asc", filter: "all", min: "", max: "", q: "", page: 1};
  var loaded = 0;

  function readHash() {
    var h = window.location.hash.replace(/^#/, "");
    h.split("&").forEach(function (kv) {
      var p = kv.split("=");
      if (p.length === 2 && p[0] in state) state[p[0]] = decodeURIComponent(p[1]);
    });
    state.page = Math.max(1, parseInt(state.page, 10) || 1);
  }
  function writeHash() {
    var parts = [];
    for (var k in state) parts.push(k + "=" + encodeURIComponent(state[k]));
    history.replaceState(null, "", "#" + parts.join("&"));
  }
  function isFailure(r) {
    return r.ps !== "ok" || (r.gs !== "ok" && r.gs !== "not_rendered");
  }
  function isMismatch(r) {
    if (r.m !== null) return r.m < 1;
    return r.ex !== null && r.ex < 1;
  }
  function keep(r) {
    if (state.filter === "failures" && !isFailure(r)) return false;
    if (state.filter === "mismatch" && !isMismatch(r)) return false;
    if (state.filter === "match" && (r.m === null || r.m < 1)) return false;
    if (state.filter === "text-wrong" && !(r.ex !== null && r.ex < 1)) return false;
    if (state.min !== "" && r.len < +state.min) return false;
    if (state.max !== "" && r.len > +state.max) return false;
    if (state.q) {
      var q = state.q.toLowerCase();
      if ((r.image + " " + r.gold + " " + (r.pred || "")).toLowerCase().indexOf(q) < 0) return false;
    }
    return true;
  }
  function cmp(a, b) {
    var x = a[state.sort], y = b[state.sort];
    // Missing values sort last in both directions.
    if (x === null || x === undefined) return (y === null || y === undefined) ? a.i - b.i : 1;
    if (y === null || y === undefined) return -1;
    var c = (typeof x === "string") ? x.localeCompare(y) : x - y;
    if (c === 0) c = a.i - b.i;
    return state.dir === "desc" ? -c : c;
  }
  function fmt(v) { return v === null || v === undefined ? "\u2013" : (100 * v).toFixed(1); }
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]; });
  }
  function status(s, msg) {
    return '<span class="status ' + esc(s) + '" title="' + esc(msg || "") + '">' + esc(s) + "</span>";
  }
  function pic(src, label, w) {
    if (!src) return "";
    // Half the 200-dpi render width: every picture of a row at the same scale, so sizes compare.
    return '<div class="lbl">' + label + '</div><img alt="' + label + '" width="' + Math.max(1, Math.round(w / 2)) + '" src="' + src + '">';
  }
  function draw() {
    var rows = DATA.filter(keep).sort(cmp);
    var pages = Math.max(1, Math.ceil(rows.length / PAGE));
    state.page = Math.min(state.page, pages);
    var start = (state.page - 1) * PAGE;
    var html = [];
    rows.slice(start, start + PAGE).forEach(function (r) {
      var cls = r.m === null ? (r.ex === null ? "" : (r.ex < 1 ? "bad" : "good")) : (r.m < 1 ? "bad" : "good");
      html.push('<tr class="' + cls + '" data-i="' + r.i + '" data-len="' + r.len + '">' +
        '<td class="num">' + r.i + "</td>" +
        "<td>" + esc(r.image) + "<br>" + status(r.gs, r.gmsg) + " " + status(r.ps, r.pmsg) + "</td>" +
        '<td class="num">' + r.len + "</td>" +
        '<td class="num">' + fmt(r.m) + "</td>" +
        '<td class="num">' + fmt(r.mws) + "</td>" +
        '<td class="num">' + fmt(r.ied) + "</td>" +
        '<td class="num">' + fmt(r.ed) + "</td>" +
        '<td class="num">' + fmt(r.ex) + "</td>" +
        '<td class="num">' + fmt(r.cdm) + "</td>" +
        '<td class="tex">' + esc(r.gold) + "</td>" +
        '<td class="tex">' + (r.pred === null ? '<span class="muted">(no prediction)</span>' : esc(r.pred)) + "</td>" +
        '<td class="pics">' + pic(r.img.g, "gold", r.img.gw) + pic(r.img.p, "predicted", r.img.pw) + pic(r.img.d, "diff", r.img.dw) +
        pic(r.img.cg, "CDM gold: matched green, missed red", r.img.cgw) +
        pic(r.img.cp, "CDM predicted: matched green, extra blue", r.img.cpw) + "</td></tr>");
    });
    document.getElementById("sample-body").innerHTML = html.join("");
    document.getElementById("shown").textContent =
      rows.length + " of " + DATA.length + " samples; page " + state.page + " of " + pages;
    document.querySelectorAll("#samples th.sortable").forEach(function (th) {
      th.classList.remove("sorted-asc", "sorted-desc");
      if (th.dataset.key === state.sort) th.classList.add("sorted-" + state.dir);
    });
    document.querySelectorAll("#sample-body img").forEach(function (img) {
      img.addEventListener("load", function () {
        loaded += 1;
        document.body.dataset.imagesLoaded = loaded;
      });
    });
    document.body.dataset.rowsShown = Math.min(PAGE, Math.max(0, rows.length - start));
    document.body.dataset.sortedBy = state.sort + ":" + state.dir;
    writeHash();
  }
  function bind() {
    document.querySelectorAll("#samples th.sortable").forEach(function (th) {
      th.addEventListener("click", function () {
        if (state.sort === th.dataset.key) state.dir = state.dir === "asc" ? "desc" : "asc";
        else { state.sort = th.dataset.key; state.dir = th.dataset.key === "i" || th.dataset.key === "image" ? "asc" : "desc"; }
        state.page = 1; draw();
      });
    });
    var ctl = {filter: "filter", min: "len-min", max: "len-max", q: "search"};
    Object.keys(ctl).forEach(function (k) {
      var el = document.getElementById(ctl[k]);
      el.value = state[k];
      el.addEventListener("input", function () { state[k] = el.value; state.page = 1; draw(); });
    });
    document.getElementById("prev").addEventListener("click", function () { state.page = Math.max(1, state.page - 1); draw(); });
    document.getElementById("next").addEventListener("click", function () { state.page += 1; draw(); });
  }
  readHash();
  bind();
  draw();
  document.body.dataset.ready = "1";
})();
"""


def _e(text: Any) -> str:
    return html.escape(str(text))


def render_page(
    *,
    title: str,
    summary: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    plot_svg: str,
    failures: dict[str, list],
    image_note: str,
    computed_match: bool,
) -> str:
    from markupeval.report import json_for_script

    metric_rows = "".join(
        f'<tr><td>{_e(m["name"])}</td><td class="num">{_e(m["value"])}</td><td class="num">{_e(m["ci"])}</td></tr>'
        for m in summary["metrics"]
    )
    counts = ", ".join(f"{_e(k)} {_e(v)}" for k, v in summary["counts"].items()) or "–"
    notes = "".join(f"<li>{_e(n)}</li>" for n in summary["notes"])
    inputs = ", ".join(f"{_e(k)}: {_e(v)}" for k, v in summary["inputs"].items() if v) or "–"

    def failure_table(items: list, kind: str) -> str:
        if not items:
            return f'<p class="muted">No {kind} render failed.</p>'
        body = "".join(
            f'<tr><td class="num">{i}</td><td>{_e(img)}</td><td><span class="status {_e(st)}">{_e(st)}</span></td>'
            f'<td><pre class="msg">{_e(msg) or "(no message)"}</pre></td></tr>'
            for i, img, st, msg in items
        )
        # Long lists start folded so the per-sample table stays near the top.
        return (
            f'<details{" open" if len(items) <= 10 else ""}><summary>{len(items)} {kind} render(s) failed</summary>'
            f'<table class="failures" id="{kind}-failures"><thead><tr><th class="num">#</th><th>image</th><th>status</th>'
            f"<th>TeX's message</th></tr></thead><tbody>{body}</tbody></table></details>"
        )

    missing = failures["missing"]
    missing_html = (
        f"<p>{len(missing)} gold image(s) have no prediction: "
        + ", ".join(_e(img) for _, img in missing[:200])
        + (" …" if len(missing) > 200 else "")
        + "</p>"
        if missing
        else '<p class="muted">Every gold image has a prediction.</p>'
    )
    computed = (
        '<p class="muted">This run was scored without image metrics; the Match columns show the pairs shown here, '
        "compared for this report (not part of the run's numbers).</p>"
        if computed_match
        else ""
    )
    headers = [
        ("i", "#", True), ("image", "image / renders", True), ("len", "length", True), ("m", "Match", True),
        ("mws", "Match (-ws)", True), ("ied", "Image ED", True), ("ed", "Text ED", True), ("ex", "Exact", True),
        ("cdm", "CDM", True), ("", "gold LaTeX", False), ("", "predicted LaTeX", False), ("", "gold / predicted / diff", False),
    ]
    head = "".join(
        f'<th class="sortable{" num" if key not in ("image",) else ""}" data-key="{key}">{_e(label)}</th>' if sortable
        else f"<th>{_e(label)}</th>"
        for key, label, sortable in headers
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="markupeval {_e(summary['version'])}">
<title>{_e(title)}</title>
<style>{_CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<section id="summary">
<h2>Summary</h2>
<table id="metrics"><thead><tr><th>metric</th><th class="num">value</th><th class="num">95% bootstrap CI</th></tr></thead>
<tbody>{metric_rows}</tbody></table>
<p class="muted">BLEU on 0–100, other metrics in %. Intervals: paired-bootstrap percentile, 1000 resamples, seed 12345 (markupeval compare).</p>
<p><b>counts</b> {counts}</p>
<p><b>inputs</b> {inputs}</p>
<p><b>signature</b> <code class="sig">{_e(summary['signature'] or 'no signature recorded in the run file')}</code></p>
{f'<ul>{notes}</ul>' if notes else ''}
<p class="muted">run file {_e(summary['path'])}; pictures: {_e(image_note)}</p>
</section>
<section id="plot"><h2>Match against formula length</h2>{plot_svg}</section>
<section id="failures">
<h2>Render failures</h2>
<h3>Gold</h3>{failure_table(failures['gold'], 'gold')}
<h3>Predictions</h3>{failure_table(failures['pred'], 'prediction')}
<h3>Missing predictions</h3>{missing_html}
</section>
<section id="per-sample">
<h2>Samples</h2>
{computed}
<p class="legend muted">Diff: <span style="background:#000"></span>ink in both <span style="background:#d62728"></span>only in gold
<span style="background:#1f77b4"></span>only in the prediction <span style="background:#ff9600"></span>where the column alignment breaks Match (an edit spanning ≥ 5 gold columns); the prediction's columns are placed under the gold columns they align with</p>
<div id="controls">
<label>show <select id="filter">
<option value="all">all samples</option><option value="mismatch">mismatches</option>
<option value="failures">render failures and missing predictions</option><option value="match">image matches</option>
<option value="text-wrong">text not exact</option></select></label>
<label>length from <input id="len-min" type="number" min="0" style="width:5em"> to <input id="len-max" type="number" min="0" style="width:5em"> tokens</label>
<label>search <input id="search" type="search" placeholder="image or LaTeX"></label>
<button id="prev" type="button">◀ previous</button><button id="next" type="button">next ▶</button>
<span id="shown" class="muted"></span>
</div>
<table id="samples"><thead><tr>{head}</tr></thead><tbody id="sample-body"></tbody></table>
</section>
<script type="application/json" id="sample-data">{json_for_script(list(rows))}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
