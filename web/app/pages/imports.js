// Import (admin only): upload a placements file (Bullhorn export, generic CSV, or JSON lines of
// an export) with its mapping, read the dry run the server makes of it (counts per event type,
// every refused row and warning, the alerts the rules would raise, the portfolio it would
// leave), then commit it through the writer. The import's id is in the address
// (?import=<id>): its stage and progress are the server's, so a reload picks it up.
import { api } from "../api.js";
import { el as h } from "../dom.js";
import { money } from "../format.js";
import { problem } from "../components.js";

export const title = "Import";

const POLL_MS = 500;
const SHOWN_PROBLEMS = 300;
let timer = null; // the one poll of this page

function base64Of(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function table(caption, head, rows, id) {
  return h(
    "div",
    // Focusable: a wide table scrolls, and a keyboard must reach it.
    { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
    h(
      "table",
      { id },
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))),
    ),
  );
}

function progressOf(s) {
  const value = s.bytes_total ? Math.min(s.bytes_read / s.bytes_total, 1) : 0;
  const doing = s.stage === "checking" ? "Checking (dry run)" : "Importing";
  return h(
    "section",
    { class: "card", "aria-labelledby": "progress-title", id: "progress" },
    h("h2", { id: "progress-title" }, doing),
    h("progress", { max: "1", value: String(value), "aria-labelledby": "progress-title" }),
    h("p", { class: "muted small", id: "progress-text" },
      `${Math.round(value * 100)} % · ${s.rows_read.toLocaleString("en-US")} rows read of ${s.file_name}`),
  );
}

function problemsTable(list, caption) {
  const rows = list.slice(0, SHOWN_PROBLEMS).map((p) => [p.severity, p.line ? String(p.line) : "file", p.column || "—", p.reason]);
  const more = list.length > SHOWN_PROBLEMS ? h("p", { class: "muted small" }, `${list.length - SHOWN_PROBLEMS} more not shown (ledger import … --report gives them all).`) : null;
  return [table(caption, ["", "Line", "Column", "Reason"], rows, "problems"), more];
}

function dryRunView(d) {
  // Sorted here: PostgreSQL's jsonb keeps an object's keys in an order of its own.
  const byName = (m) => Object.entries(m).sort(([a], [b]) => a.localeCompare(b));
  const counts = byName(d.appended).map(([t, n]) => [t, n.toLocaleString("en-US")]);
  counts.push(["Already in the log", d.duplicates.toLocaleString("en-US")]);
  const p = d.portfolio;
  const figures = [
    ["Contracts", String(p.contracts)],
    ["Active assignments", String(p.active_assignments)],
    ["Weekly gross profit", money(p.weekly_gross_profit)],
    ["Weekly billing", money(p.weekly_billing)],
    ["Margin", p.margin_pct === null ? "—" : `${Number(p.margin_pct).toFixed(2)} %`],
    ["Loss-making assignments", String(p.loss_making.length)],
  ];
  const alerts = byName(d.alerts).map(([rule, n]) => [rule, String(n)]);
  const problems = [...d.errors, ...d.refused, ...d.warnings];
  return h(
    "section",
    { class: "card", "aria-labelledby": "dry-title", id: "dry-run" },
    h("h2", { id: "dry-title" }, `Dry run: nothing appended yet (as of ${d.as_of})`),
    table("Events the import would append", ["Event", "Count"], counts, "dry-counts"),
    table(`The portfolio it would leave, as of ${d.as_of}`, ["Figure", "Value"], figures, "dry-portfolio"),
    alerts.length ? table("Alerts the rules would raise", ["Rule", "Count"], alerts, "dry-alerts") : null,
    problems.length ? problemsTable(problems, `Refused rows and warnings (${d.errors.length + d.refused.length} refused, ${d.warnings.length} warnings)`) : h("p", {}, "No refused row, no warning."),
  );
}

function outcomeView(o) {
  const counts = Object.entries(o.appended).sort(([a], [b]) => a.localeCompare(b))
    .map(([t, n]) => [t, n.toLocaleString("en-US")]);
  counts.push(["Total appended", o.total.toLocaleString("en-US")]);
  counts.push(["Already in the log", o.duplicates.toLocaleString("en-US")]);
  const refused = [...o.errors, ...o.refused];
  return h(
    "section",
    { class: "card", "aria-labelledby": "outcome-title", id: "outcome" },
    h("h2", { id: "outcome-title" }, "Imported"),
    table("Events appended", ["Event", "Count"], counts, "outcome-counts"),
    refused.length ? problemsTable(refused, `Refused (${refused.length})`) : h("p", {}, "Nothing refused."),
  );
}

/** The upload form: the file and its mapping, sent for a dry run; the import's id then goes
 * into the address. */
function uploadForm(message, ctx) {
  const file = h("input", { type: "file", id: "import-file", name: "file", accept: ".csv,.jsonl,.txt,text/csv", required: true });
  const mapping = h("textarea", { id: "import-mapping", name: "mapping", rows: "10", spellcheck: "false" });
  const button = h("button", { type: "submit", class: "btn btn-primary" }, "Upload and check");
  const form = h("form", { class: "card", "aria-labelledby": "upload-title", novalidate: true },
    h("h2", { id: "upload-title" }, "Upload"),
    h("div", { class: "am-field" }, h("label", { for: "import-file" }, "Placements file"), file),
    h("div", { class: "am-field" }, h("label", { for: "import-mapping" }, "Mapping (YAML)"), mapping),
    h("p", {}, button));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    message.textContent = "";
    const f = file.files && file.files[0];
    if (!f) {
      message.textContent = "Choose a file to import.";
      return;
    }
    button.disabled = true;
    const r = await api.answer("POST", "/v1/imports", {
      file_name: f.name, content_base64: await base64Of(f), mapping: mapping.value,
    });
    button.disabled = false;
    if (!r.ok) {
      message.textContent = `Not imported: ${r.message}`;
      return;
    }
    ctx.setQuery({ import: r.body.import_id });
  });
  return form;
}

/** What the import `s` has reached: its stage, progress, dry run, outcome. */
function stageView(s, commit) {
  const busy = s.stage === "checking" || s.stage === "importing";
  return [
    h("p", { id: "import-stage", "data-stage": s.stage }, `${s.file_name} (${s.format}): ${s.stage}`),
    busy ? progressOf(s) : null,
    s.stage === "failed"
      ? h("section", { class: "problem", role: "alert", id: "import-failed" }, h("h2", {}, "Not imported"), h("p", {}, s.error || "the import failed"))
      : null,
    s.dry_run ? dryRunView(s.dry_run) : null,
    s.stage === "checked" ? h("p", {}, h("button", { type: "button", class: "btn btn-primary", id: "commit", onclick: commit }, "Commit import")) : null,
    s.outcome ? outcomeView(s.outcome) : null,
    h("p", {}, h("a", { href: "/app/imports", "data-nav": "" }, "Import another file")),
  ].filter(Boolean);
}

/** Follows import `id` into `body`: polled while the server works on it. */
async function follow(id, root, body, message) {
  const path = `/v1/imports/${encodeURIComponent(id)}`;
  async function commit() {
    message.textContent = "";
    const r = await api.answer("POST", `${path}/commit`);
    if (!r.ok) {
      message.textContent = `Not committed: ${r.message}`;
      return;
    }
    show(r.body);
  }
  function show(s) {
    body.replaceChildren(...stageView(s, commit));
    if ((s.stage === "checking" || s.stage === "importing") && root.isConnected) timer = setTimeout(poll, POLL_MS);
  }
  async function poll() {
    if (!root.isConnected) return;
    const r = await api.answer("GET", path);
    if (!r.ok) body.replaceChildren(problem(r.status, r.message));
    else show(r.body);
  }
  await poll();
}

export async function render(root, params, ctx) {
  if (timer) clearTimeout(timer);
  const head = h("header", { class: "am-head" }, h("h1", {}, "Import"),
    h("p", { class: "muted small" }, "A Bullhorn placement export, the generic placements CSV or JSON lines of an export, with its mapping (docs/import.md)."));
  if (ctx.session.role !== "admin") {
    root.replaceChildren(h("div", { class: "am-page" }, head, problem(403, "Only an admin may import.")));
    return;
  }
  const id = ctx.query.get("import");
  const message = h("p", { class: "form-error", role: "alert", id: "import-error" });
  const body = h("div", { class: "am-page", id: "import-state" });
  root.replaceChildren(h("div", { class: "am-page" }, head, message, body));
  if (!id) body.replaceChildren(uploadForm(message, ctx));
  else await follow(id, root, body, message);
}
