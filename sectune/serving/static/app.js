// sectune serve's page: plain DOM, no build step. Every value from the server is set with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const status = (text, isError) => { $("status").textContent = text || ""; $("status").className = isError ? "error" : "muted"; };

$("token").value = sessionStorage.getItem("sectune-token") || "";
$("token").addEventListener("change", () => sessionStorage.setItem("sectune-token", $("token").value));

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

async function call(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  const token = $("token").value.trim();
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) throw new Error((data && data.error) || response.status + " " + response.statusText);
  return data;
}

function showTab(name) {
  for (const which of ["cve", "cmd"]) {
    $("pane-" + which).hidden = which !== name;
    $("tab-" + which).classList.toggle("active", which === name);
  }
}
$("tab-cve").addEventListener("click", () => showTab("cve"));
$("tab-cmd").addEventListener("click", () => showTab("cmd"));

async function loadModels() {
  try {
    const data = await call("GET", "/models");
    for (const model of data.models) {
      const label = `${model.name} (${model.task}, ${model.method})`;
      if (!model.binary) $("cve-model").append(el("option", { value: model.name }, label));
      else $("cmd-model").append(el("option", { value: model.name }, label));
    }
    if (!$("cve-model").options.length) $("cve-model").append(el("option", { value: data.default }, data.default));
    if (!$("cmd-model").options.length) $("cmd-model").append(el("option", { value: "" }, "no binary model served"));
    if (!data.models.some((m) => !m.binary)) showTab("cmd");
    status("");
  } catch (err) {
    status("cannot list the models: " + err.message + " (a token may be needed: enter it above and reload)", true);
  }
}

function predictionTable(predictions) {
  const table = el("table", {}, el("tr", {}, el("th", {}, "label"), el("th", {}, "name"), el("th", {}, "score")));
  for (const p of predictions) {
    const label = p.url ? el("a", { href: p.url, target: "_blank", rel: "noopener noreferrer" }, p.label) : el("span", {}, p.label);
    const bar = el("span", { class: "bar" });
    bar.style.width = Math.round(p.score * 120) + "px";
    table.append(el("tr", { class: "prediction" }, el("td", {}, label), el("td", {}, p.name || ""),
      el("td", {}, bar, p.score.toFixed(3))));
  }
  return table;
}

async function readRecords(files) {
  const records = [];
  for (const file of files) {
    const parsed = JSON.parse(await file.text());
    if (Array.isArray(parsed)) records.push(...parsed); else records.push(parsed);
  }
  return records;
}

$("cve-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const out = $("cve-results");
  out.replaceChildren();
  const topK = parseInt($("cve-topk").value, 10) || 3;
  const body = { model: $("cve-model").value, top_k: topK };
  const files = $("cve-files").files;
  let texts = [];
  try {
    if (files.length) body.records = await readRecords(files);
    else {
      texts = $("cve-text").value.split(/\n\s*\n/).map((t) => t.trim()).filter(Boolean);
      if (!texts.length) { status("paste a description first", true); return; }
      body.texts = texts;
    }
  } catch (err) { status("cannot read the files: " + err.message, true); return; }
  status("scoring...");
  try {
    const data = await call("POST", "/predict", body);
    data.results.forEach((row, i) => {
      const head = row.id ? el("div", {}, el("strong", {}, row.id),
        row.stated && row.stated.length ? el("span", { class: "muted" }, "  stated: " + row.stated.join(", ")) : "") :
        el("div", { class: "text" }, texts[i]);
      const item = el("div", { class: "item result" }, head);
      if (row.skipped) item.append(el("div", { class: "muted" }, "skipped: " + row.skipped));
      else item.append(predictionTable(row.predictions));
      out.append(item);
    });
    status(`${data.results.length} result(s) from ${data.model}`);
  } catch (err) { status(err.message, true); }
});

$("cmd-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const out = $("cmd-results");
  out.replaceChildren();
  const lines = $("cmd-text").value.split("\n").map((t) => t.trim()).filter(Boolean);
  if (!lines.length) { status("paste a command line first", true); return; }
  status("scanning...");
  try {
    const data = await call("POST", "/scan", { model: $("cmd-model").value || null, lines });
    data.results.forEach((r, i) => {
      const verdict = el("span", { class: r.alert ? "alert verdict" : "ok verdict" }, r.alert ? "ALERT" : "no alert");
      const item = el("div", { class: "item result" }, el("div", { class: "text" }, lines[i]),
        el("div", {}, verdict, `  score ${r.score.toFixed(4)} (threshold ${data.threshold.toFixed(4)})`));
      if (r.technique) item.append(el("div", {}, "technique: " + r.technique));
      if (r.normalized && r.normalized !== lines[i]) item.append(el("div", { class: "muted" }, "runs as: " + r.normalized));
      if (r.explanation && r.explanation.length) {
        const table = el("table", {}, el("tr", {}, el("th", {}, "why"), el("th", {}, "contribution"), el("th", {}, "value")));
        for (const e of r.explanation) {
          table.append(el("tr", {}, el("td", {}, e.what), el("td", {}, (e.contribution >= 0 ? "+" : "") + e.contribution.toFixed(3)),
            el("td", {}, e.value)));
        }
        item.append(table);
      }
      out.append(item);
    });
    status(`${data.results.length} line(s) scanned by ${data.model}`);
  } catch (err) { status(err.message, true); }
});

loadModels();
