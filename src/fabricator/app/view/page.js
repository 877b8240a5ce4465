// The report page's script: reads the run's data from the JSON block and draws it.
// Everything from the data goes into the page as text (textContent, attribute values), never as
// markup, so a row that holds "</script><img onerror=...>" shows as those characters.
(function () {
  "use strict";
  const DATA = JSON.parse(document.getElementById("run-data").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const SHOWN = 500; // table rows drawn at most; the count says how many match
  let EXTRA = [];

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function fmt(value, digits) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "number") {
      if (Number.isInteger(value)) return value.toLocaleString("en");
      return value.toFixed(digits === undefined ? 3 : digits);
    }
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function table(header, rows, attrs) {
    const head = el("thead", {}, el("tr", {}, ...header.map((h) => el("th", {}, h))));
    const body = el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, fmt(c))))));
    return el("table", attrs || {}, head, body);
  }

  function section(id) {
    return document.getElementById(id);
  }

  function note(parent, text) {
    parent.append(el("p", { class: "note" }, text));
  }

  // --- summary ---------------------------------------------------------------------------------

  function renderSummary() {
    const s = DATA.summary;
    const part = section("summary");
    const tokens = (s.prompt_tokens || 0) + (s.completion_tokens || 0);
    const rows = [
      ["mode", s.mode],
      ["model", DATA.model],
      ["started", DATA.started],
      ["rows", `${fmt(s.rows)} of ${fmt(s.requested)} requested`],
      ["failures", s.failures],
      ["model calls", `${fmt(s.calls)} of ${fmt(s.call_cap)} allowed (${fmt(s.cached)} from the journal)`],
      ["tokens", `${fmt(s.prompt_tokens)} prompt + ${fmt(s.completion_tokens)} completion = ${fmt(tokens)}`],
      ["cost (USD)", s.cost_usd === null || s.cost_usd === undefined ? "n/a (no prices set)" : s.cost_usd],
      ["time (s)", s.elapsed_s],
      ["stopped", s.stopped || (s.interrupted ? "interrupted" : "completed")],
    ];
    part.append(table(["figure", "value"], rows, { id: "summary-table" }));
    const kinds = Object.entries(DATA.failures_by_kind);
    if (kinds.length) {
      part.append(el("h3", {}, "Failures by kind"));
      part.append(table(["kind", "rows"], kinds, { id: "failure-kinds" }));
    }
  }

  // --- charts ----------------------------------------------------------------------------------

  function chart(width, height) {
    return svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
  }

  function axes(box, plot, xLabel, yLabel, yMax) {
    box.append(svg("line", { x1: plot.x, y1: plot.y + plot.h, x2: plot.x + plot.w, y2: plot.y + plot.h, class: "axis" }));
    box.append(svg("line", { x1: plot.x, y1: plot.y, x2: plot.x, y2: plot.y + plot.h, class: "axis" }));
    box.append(svg("text", { x: plot.x + plot.w / 2, y: plot.y + plot.h + 34, class: "label", "text-anchor": "middle" }, xLabel));
    box.append(svg("text", { x: 12, y: plot.y + plot.h / 2, class: "label", transform: `rotate(-90 12 ${plot.y + plot.h / 2})`, "text-anchor": "middle" }, yLabel));
    box.append(svg("text", { x: plot.x - 4, y: plot.y + 4, class: "tick", "text-anchor": "end" }, fmt(yMax, 2)));
    box.append(svg("text", { x: plot.x - 4, y: plot.y + plot.h, class: "tick", "text-anchor": "end" }, "0"));
  }

  // bars: [{name, values: [number|null, ...]}], one colour per series
  function barChart(bars, series, xLabel, yLabel) {
    const plot = { x: 50, y: 12, w: Math.max(240, bars.length * 26 * series.length + 40), h: 160 };
    const box = chart(plot.x + plot.w + 10, plot.y + plot.h + 44);
    const top = Math.max(1e-9, ...bars.flatMap((b) => b.values.filter((v) => v !== null)));
    axes(box, plot, xLabel, yLabel, top);
    const slot = plot.w / Math.max(1, bars.length);
    const width = Math.max(2, (slot - 6) / series.length);
    bars.forEach((bar, i) => {
      bar.values.forEach((value, k) => {
        if (value === null) return;
        const h = (value / top) * plot.h;
        const rect = svg("rect", { x: plot.x + i * slot + 3 + k * width, y: plot.y + plot.h - h, width: width - 1, height: h, class: `series${k}` });
        rect.append(svg("title", {}, `${bar.name}: ${series[k]} ${fmt(value)}`));
        box.append(rect);
      });
      box.append(svg("text", { x: plot.x + i * slot + slot / 2, y: plot.y + plot.h + 14, class: "tick", "text-anchor": "middle" }, bar.name));
    });
    const legend = el("div", { class: "legend" }, ...series.map((s, k) => el("span", { class: `key series${k}` }, s)));
    return el("figure", {}, box, series.length > 1 ? legend : null);
  }

  function histogram(bins, xLabel) {
    const bars = bins.map((b) => ({ name: `${fmt(b.lower, 1)}`, values: [b.n] }));
    return barChart(bars, ["rows"], xLabel, "rows");
  }

  function lineChart(points, xLabel, yLabel) {
    const plot = { x: 50, y: 12, w: 320, h: 160 };
    const box = chart(plot.x + plot.w + 10, plot.y + plot.h + 44);
    axes(box, plot, xLabel, yLabel, 1);
    const at = (p) => [plot.x + p.coverage * plot.w, plot.y + plot.h - p.accuracy * plot.h];
    box.append(svg("polyline", { points: points.map((p) => at(p).join(",")).join(" "), class: "line" }));
    for (const p of points) {
      const [x, y] = at(p);
      const dot = svg("circle", { cx: x, cy: y, r: 3, class: "dot" });
      dot.append(svg("title", {}, `coverage ${fmt(p.coverage, 2)}: accuracy ${fmt(p.accuracy)} (confidence >= ${fmt(p.threshold)})`));
      box.append(dot);
    }
    return el("figure", {}, box);
  }

  function renderLabels() {
    const part = section("labels");
    const labels = DATA.labels;
    if (!labels) return note(part, "This dataset has no label column.");
    const asked = labels.labels.some((l) => l.requested !== null);
    const bars = labels.labels.map((l) => ({ name: l.label, values: asked ? [l.n, l.requested] : [l.n] }));
    part.append(barChart(bars, asked ? ["made", "requested"] : ["made"], DATA.label_column, "rows"));
    const rows = labels.labels.map((l) => [l.label, l.n, `${fmt(100 * l.share, 1)}%`, asked ? fmt(l.requested, 1) : "–"]);
    part.append(table(["label", "rows", "share", "requested"], rows, { id: "label-table" }));
  }

  function renderConfidence() {
    const part = section("confidence");
    if (!DATA.confidence) return note(part, "No row carries a confidence (label scoring or verification was off).");
    part.append(histogram(DATA.confidence.histogram, "confidence of the label"));
    const curve = DATA.risk_coverage;
    part.append(el("h3", {}, "Risk–coverage"));
    if (!curve) return note(part, "No gold labels given: `fabricator view RUN_DIR --gold FILE` draws the curve.");
    part.append(lineChart(curve.points, "coverage (most confident first)", "accuracy"));
    note(part, `${curve.n} rows scored on ${curve.gold}: accuracy ${fmt(curve.accuracy)}, AURC ${fmt(curve.aurc)}, ECE ${fmt(curve.ece)}.`);
  }

  function renderJudge() {
    const part = section("judge");
    const criteria = Object.entries(DATA.judge);
    if (!criteria.length) return note(part, "No judge criteria in this run.");
    for (const [name, fig] of criteria) {
      part.append(el("h3", {}, name));
      part.append(histogram(fig.histogram, `judge score (${fmt(fig.scale[0], 0)}–${fmt(fig.scale[1], 0)})`));
      const meta = fig.metadata || {};
      note(part, `${fig.n} rows scored, mean ${fmt(fig.mean, 2)}` + (meta.rejected !== undefined ? `, ${meta.rejected} rejected` : ""));
    }
  }

  function renderDiversity() {
    const part = section("diversity");
    const d = DATA.diversity;
    if (!d) return note(part, DATA.summary.mode === "annotation" ? "An annotation run labels given text: no diversity of its own to measure." : "No text column to measure.");
    const keys = ["rows", "distinct_1", "distinct_2", "distinct_3", "duplicate_rate", "embedding_spread", "nearest_gold"];
    part.append(table(["figure", "value"], keys.filter((k) => k in d).map((k) => [k, d[k]]), { id: "diversity-table" }));
    if (d.embedding_note) note(part, d.embedding_note);
  }

  function renderFirstCall() {
    const part = section("first-call");
    const call = DATA.first_call;
    if (!call) return note(part, "This run logged no model call.");
    note(part, `Row ${fmt(call.row)}: the prompt exactly as the model got it, then its answer.`);
    for (const m of call.messages) {
      part.append(el("h4", {}, m.role));
      part.append(el("pre", { class: "message" }, m.content));
    }
    part.append(el("h4", {}, "answer"));
    part.append(el("pre", { class: "message", id: "first-answer" }, call.response));
  }

  // --- rows and failures -----------------------------------------------------------------------

  function text(value) {
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  function options(select, values) {
    for (const v of values) select.append(el("option", { value: v }, v));
  }

  function setUpRowFilters() {
    const labels = DATA.labels ? DATA.labels.labels.map((l) => l.label) : [];
    options(section("label-filter"), labels);
    options(section("judge-criterion"), Object.keys(DATA.judge));
    if (Object.keys(DATA.judge).length === 1) section("judge-criterion").selectedIndex = 1; // the only one
    if (!DATA.confidence) section("conf-below").disabled = true;
    if (!DATA.votes) section("flagged-only").disabled = true;
    if (!Object.keys(DATA.judge).length) for (const id of ["judge-criterion", "judge-min", "judge-max"]) section(id).disabled = true;
    for (const id of ["search", "label-filter", "conf-below", "flagged-only", "judge-criterion", "judge-min", "judge-max"]) {
      section(id).addEventListener("input", renderRows);
      section(id).addEventListener("change", renderRows);
    }
  }

  function numberIn(id) {
    const raw = section(id).value.trim();
    return raw === "" || section(id).disabled ? null : Number(raw);
  }

  function rowMatches(row, f) {
    if (f.label && row.label !== f.label) return false;
    if (f.below !== null && !(row.confidence !== null && row.confidence < f.below)) return false;
    if (f.flagged && !row.flagged) return false;
    if (f.criterion && (f.min !== null || f.max !== null)) {
      const score = row.judge[f.criterion];
      if (score === undefined || score === null) return false;
      if (f.min !== null && score < f.min) return false;
      if (f.max !== null && score > f.max) return false;
    }
    return !f.search || row.haystack.includes(f.search);
  }

  function rowFilters() {
    return {
      search: section("search").value.trim().toLowerCase(),
      label: section("label-filter").value,
      below: numberIn("conf-below"),
      flagged: section("flagged-only").checked,
      criterion: section("judge-criterion").value,
      min: numberIn("judge-min"),
      max: numberIn("judge-max"),
    };
  }

  // what a row shows beyond its data columns: the confidence, the votes and judge scores it lacks
  function extraColumns() {
    const extra = [];
    if (DATA.confidence && !DATA.columns.includes("confidence")) extra.push(["confidence", (r) => fmt(r.confidence)]);
    if (DATA.votes) extra.push(["votes", (r) => (r.flagged ? `flagged (${fmt(r.agreement, 2)})` : fmt(r.agreement, 2))]);
    for (const c of Object.keys(DATA.judge)) {
      if (!DATA.columns.includes(`judge_${c}`)) extra.push([`judge: ${c}`, (r) => fmt(r.judge[c], 2)]);
    }
    return extra;
  }

  function cell(value) {
    return typeof value === "number" ? fmt(value) : text(value);
  }

  function rowCells(row) {
    const cells = [el("td", {}, row.i)];
    for (const c of DATA.columns) cells.push(el("td", { class: "value" }, c in row.data ? cell(row.data[c]) : ""));
    for (const [, show] of EXTRA) cells.push(el("td", {}, show(row)));
    return cells;
  }

  function renderRows() {
    const f = rowFilters();
    const matching = DATA.rows.filter((row) => rowMatches(row, f));
    const body = section("rows-body");
    body.replaceChildren(...matching.slice(0, SHOWN).map((row) => el("tr", { "data-row": row.i }, ...rowCells(row))));
    const more = DATA.rows_total > DATA.rows.length ? ` (the page holds the first ${DATA.rows.length} of ${DATA.rows_total})` : "";
    const cut = matching.length > SHOWN ? `; the first ${SHOWN} shown` : "";
    section("rows-count").textContent = `${matching.length} of ${DATA.rows.length} rows${cut}${more}`;
  }

  function rowsHeader() {
    const names = ["#", ...DATA.columns, ...EXTRA.map(([name]) => name)];
    section("rows-head").append(el("tr", {}, ...names.map((n) => el("th", {}, n))));
  }

  function renderFailures() {
    const kind = section("failure-kind").value;
    const search = section("failure-search").value.trim().toLowerCase();
    const matching = DATA.failures.filter((f) => (!kind || f.kind === kind) && (!search || f.haystack.includes(search)));
    const rows = matching.slice(0, SHOWN).map((f) => el("tr", { "data-failure": f.index }, el("td", {}, fmt(f.index)), el("td", {}, f.kind), el("td", { class: "value" }, text(f.error)), el("td", { class: "value" }, text(f.raw))));
    section("failures-body").replaceChildren(...rows);
    section("failures-count").textContent = `${matching.length} of ${DATA.failures_total} failures`;
  }

  function setUpFailures() {
    options(section("failure-kind"), Object.keys(DATA.failures_by_kind));
    for (const id of ["failure-kind", "failure-search"]) {
      section(id).addEventListener("input", renderFailures);
      section(id).addEventListener("change", renderFailures);
    }
  }

  function main() {
    document.title = `Fabricator run: ${DATA.title}`;
    section("title").textContent = `Fabricator run: ${DATA.title}`;
    for (const row of DATA.rows) row.haystack = text(row.data).toLowerCase();
    for (const f of DATA.failures) f.haystack = `${text(f.error)} ${text(f.raw)}`.toLowerCase();
    renderSummary();
    renderLabels();
    renderConfidence();
    renderJudge();
    renderDiversity();
    renderFirstCall();
    EXTRA = extraColumns();
    rowsHeader();
    setUpRowFilters();
    renderRows();
    setUpFailures();
    renderFailures();
    document.body.setAttribute("data-ready", "1");
  }

  main();
})();
