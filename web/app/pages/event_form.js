// Record an event: a form GENERATED from the catalogue's JSON Schema (GET /v1/schema/events,
// what `ledger schema` prints), so a new event type needs no new form. Preview asks
// POST /v1/events/preview what the writer would decide, the margin impact and the alerts,
// appending nothing; Submit records it with POST /v1/events.
import { knownPeople } from "../people.js";
import { api } from "../api.js";
import { el as h } from "../dom.js";
import { delta, money, pct, sign, words } from "../format.js";
import { alertList, link } from "../components.js";
import { checkRange, inputAttributes, limits } from "../constraints.js";
import { eventSchemas } from "../schema.js";

export const title = "Record an event";

// Set by the service, never by the submitter; or fixed by the type chosen.
const SKIP = new Set(["type", "schema_version", "recorded_by", "recorded_at", "stream_version"]);

/** What input a JSON Schema property needs: {kind, optional, enum, ...}. */
export function fieldSpec(prop, required) {
  let p = prop;
  let optional = !required;
  if (p.anyOf) {
    const nonNull = p.anyOf.filter((s) => s.type !== "null");
    if (nonNull.length < p.anyOf.length) optional = true;
    if (nonNull.length === 1) p = { ...nonNull[0], title: prop.title, description: prop.description || nonNull[0].description };
    else p = { ...p, anyOf: nonNull };
  }
  const types = p.anyOf ? p.anyOf.map((s) => s.type) : [p.type];
  const base = { optional, description: p.description || "", title: p.title, default: prop.default };
  if (p.enum) return { ...base, kind: "enum", options: p.enum };
  if (types.includes("number") || (p.anyOf && p.anyOf.some((s) => s.anyOf))) {
    const number = p.anyOf && p.anyOf.some((s) => s.anyOf) ? { ...p.anyOf.find((s) => s.anyOf), gt: p.gt, lt: p.lt } : p;
    return { ...base, kind: "decimal", limits: limits(number) };
  }
  if (types.includes("boolean")) return { ...base, kind: "boolean" };
  if (types.includes("integer")) return { ...base, kind: "integer", limits: limits(p) };
  if (p.format === "date") return { ...base, kind: "date" };
  if (p.format === "date-time") return { ...base, kind: "datetime" };
  if (p.format === "uuid") return { ...base, kind: "uuid" };
  return { ...base, kind: (p.maxLength || 0) > 200 ? "textarea" : "text", maxLength: p.maxLength, pattern: p.pattern };
}

function localNow() {
  const d = new Date();
  d.setSeconds(0, 0);
  const off = d.getTimezoneOffset() * 60000;
  return new Date(d.getTime() - off).toISOString().slice(0, 16);
}

// Text fields offered a list of known values: contracts by client, people by name.
const LISTS = { contract_id: "am-contracts", account_manager_id: "am-people" };

function fieldControl(name, spec, value) {
  const id = `f-${name}`;
  const describedBy = `${id}-help ${id}-error`;
  // A required field the browser refuses empty, as the service would (a checkbox says no by
  // being unticked: never required).
  const required = !spec.optional && spec.kind !== "boolean";
  const common = { id, name, "aria-describedby": describedBy, "data-kind": spec.kind, required };
  const checked = { ...inputAttributes(spec), oninput: (e) => checkRange(e.target) };
  switch (spec.kind) {
    case "enum":
      return h(
        "select",
        common,
        h("option", { value: "" }, spec.optional ? "(none)" : "Choose…"),
        spec.options.map((o) => h("option", { value: o, selected: value === o }, words(o))),
      );
    case "boolean":
      if (spec.optional)
        return h("select", common, h("option", { value: "" }, "(not said)"), h("option", { value: "true" }, "Yes"), h("option", { value: "false" }, "No"));
      return h("input", { ...common, type: "checkbox", checked: value === true || value === "true" });
    case "decimal":
      return h("input", { ...common, ...checked, type: "text", inputmode: "decimal", autocomplete: "off", value: value ?? "", placeholder: "e.g. 37.50" });
    case "integer":
      return h("input", { ...common, ...checked, type: "text", inputmode: "numeric", autocomplete: "off", value: value ?? "" });
    case "date":
      return h("input", { ...common, type: "date", value: value ?? "" });
    case "datetime":
      return h("input", { ...common, type: "datetime-local", value: value ?? localNow() });
    case "uuid":
      return h("input", { ...common, type: "text", value: value ?? crypto.randomUUID(), readonly: true, class: "mono" });
    case "textarea":
      return h("textarea", { ...common, rows: 3, maxlength: spec.maxLength || null }, value ?? "");
    default:
      return h("input", { ...common, ...inputAttributes(spec), type: "text", autocomplete: "off", value: value ?? "", list: LISTS[name] ?? null });
  }
}

function readField(el, spec) {
  if (spec.kind === "boolean" && el.type === "checkbox") return el.checked;
  const v = el.value.trim();
  if (v === "") return undefined;
  if (spec.kind === "boolean") return v === "true";
  if (spec.kind === "integer") return /^-?\d+$/.test(v) ? Number(v) : v;
  if (spec.kind === "datetime") {
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? v : d.toISOString();
  }
  return v;
}

function impactTable(imp) {
  const row = (label, key, fmt, fmtDelta) => {
    const d = imp[`delta_${key}`];
    return h(
      "tr",
      {},
      h("th", { scope: "row" }, label),
      h("td", { class: "num" }, fmt(imp[`before_${key}`])),
      h("td", { class: "num" }, fmt(imp[`after_${key}`])),
      h("td", { class: `num am-delta ${sign(d) < 0 ? "neg" : sign(d) > 0 ? "pos" : ""}` }, fmtDelta(d)),
    );
  };
  return h(
    "table",
    { class: "am-table am-impact", "data-assignment": imp.assignment_id },
    h("caption", {}, `Margin impact on ${imp.assignment_id} (${imp.basis}, counted from ${imp.counted_from})`),
    h("thead", {}, h("tr", {}, ["Figure", "Before", "After", "Change"].map((t) => h("th", { scope: "col" }, t)))),
    h(
      "tbody",
      {},
      row("Pay rate", "pay_rate", money, delta),
      row("Bill rate", "bill_rate", money, delta),
      row("Markup", "markup_pct", pct, (d) => `${delta(d)} pts`),
      row("Margin per hour", "margin_per_hour", money, delta),
      row("Weekly gross profit", "weekly_gross_profit", money, delta),
      row("Remaining gross profit", "remaining_gross_profit", money, delta),
      imp.after_margin_per_ot_hour != null ? row("Margin per OT hour", "margin_per_ot_hour", money, delta) : null,
    ),
  );
}

function judged(alerts) {
  if (alerts === null || alerts === undefined) return h("p", { class: "muted small" }, "The risk rules have not judged it yet.");
  return alertList(alerts, h("p", { class: "muted small" }, "No alert raised."));
}

const VERDICT = {
  accepted: ["Accepted", "am-ok"],
  refused: ["Refused", "am-bad"],
  duplicate: ["Duplicate: already recorded", "am-ok"],
  invalid: ["Not valid", "am-bad"],
  pending: ["Pending", "am-warn"],
};

/** Finance may not submit (403): no form it cannot use (issue #21), but where to go. */
function financeNotice() {
  return h("div", { class: "am-page" }, h("h1", {}, "Record an event"),
    h("p", {}, "Events are recorded by the contract's account manager or an admin; finance reads their margin impact and handles the alerts they raise."),
    h("p", {}, link("/app/finance", "The finance dashboard"), " · ", link("/app/alerts", "The alert board")));
}

/** One field of the form: its label, its input (carrying the schema's constraints), its help
 * and the slot for its error. */
function fieldBlock(name, spec, value) {
  const label = name === "event_id" ? "Event id (idempotency key)" : words(name);
  const help = [spec.description, spec.kind === "decimal" && !spec.description ? "A decimal, e.g. 37.50" : "",
    spec.kind === "datetime" ? "Your local time" : ""].filter(Boolean).join(" · ");
  return h("div", { class: `am-field am-field-${spec.kind}`, "data-field": name },
    h("label", { for: `f-${name}` }, label, spec.optional ? h("span", { class: "am-optional" }, " (optional)") : h("span", { class: "am-required", "aria-hidden": "true" }, " *")),
    fieldControl(name, spec, value),
    h("small", { id: `f-${name}-help`, class: "am-help" }, help),
    h("small", { id: `f-${name}-error`, class: "am-error", "aria-live": "polite" }));
}

/** The form of one event type: the fields of its schema, and what reads and marks them. */
class EventForm {
  constructor(schemas, session) {
    this.schemas = schemas;
    this.session = session;
    this.specs = {};
    this.fieldsBox = h("div", { class: "am-fields" });
    this.formError = h("p", { class: "form-error", id: "form-error", role: "alert" });
  }

  build(t, values) {
    this.type = t;
    const schema = this.schemas[t];
    const required = new Set(schema.required || []);
    this.specs = {};
    const blocks = [];
    for (const [name, prop] of Object.entries(schema.properties)) {
      if (SKIP.has(name) || prop.readOnly) continue;
      // An account manager signs contracts in their own name; a hand-over names someone else.
      if (name === "account_manager_id" && t === "ContractSigned" && values[name] === undefined && this.session?.account_manager_id)
        values = { ...values, account_manager_id: this.session.account_manager_id };
      this.specs[name] = fieldSpec(prop, required.has(name));
      blocks.push(fieldBlock(name, this.specs[name], values[name]));
    }
    this.fieldsBox.replaceChildren(...blocks);
    for (const input of this.fieldsBox.querySelectorAll("[data-min], [data-max]")) checkRange(input);
    this.formError.textContent = "";
    const url = new URL(location.href);
    url.searchParams.set("type", t);
    history.replaceState(history.state, "", url);
  }

  values() {
    const body = { type: this.type };
    // The version the schema describes (e.g. 2 for AssignmentStarted): the form posts it, so
    // the service reads the body as written, not as an older version to upcast.
    const version = this.schemas[this.type].properties.schema_version?.default;
    if (version) body.schema_version = version;
    for (const [name, spec] of Object.entries(this.specs)) {
      const v = readField(this.fieldsBox.querySelector(`[name="${name}"]`), spec);
      if (v !== undefined) body[name] = v;
    }
    return body;
  }

  clearErrors() {
    this.formError.textContent = "";
    for (const el of this.fieldsBox.querySelectorAll(".am-error")) el.textContent = "";
    for (const el of this.fieldsBox.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  }

  showFieldError(path, reason) {
    const parts = String(path || "").split(".");
    const name = parts.reverse().find((p) => this.specs[p]);
    const slot = name && this.fieldsBox.querySelector(`#f-${name}-error`);
    if (!slot) {
      this.formError.textContent = (this.formError.textContent ? this.formError.textContent + " " : "") + `${path}: ${reason}`;
      return;
    }
    slot.textContent = slot.textContent ? `${slot.textContent}; ${reason}` : reason;
    this.fieldsBox.querySelector(`#f-${name}`)?.setAttribute("aria-invalid", "true");
  }

  /** The browser's own check of every input against the schema's constraints: each refusal
   * beside its field; true when nothing is refused (and only then is a request sent). */
  refusedByBrowser() {
    this.clearErrors();
    const bad = [...this.fieldsBox.querySelectorAll("input, select, textarea")].filter((i) => !i.checkValidity());
    for (const i of bad) this.showFieldError(i.name, i.validationMessage);
    if (bad.length) bad[0].focus();
    return bad.length > 0;
  }

  newId() {
    const el = this.fieldsBox.querySelector("#f-event_id");
    if (el) el.value = crypto.randomUUID();
  }
}

/** The answer of the service (or of the preview): the verdict, then the margin impact and
 * the alerts of an accepted event. */
function answerView(a, preview, newId) {
  const [label, cls] = VERDICT[a.status] || [a.status, "am-warn"];
  const kept = a.status === "accepted" || a.status === "duplicate";
  return [
    h("div", { class: `am-verdict ${cls}`, "data-status": a.status, "data-preview": preview ? "true" : "false" },
      h("p", { class: "am-kicker" }, preview ? "Preview: what the writer would decide. Nothing was recorded." : "Answer of the service"),
      h("h2", {}, preview && a.status !== "invalid" ? `Would be ${label.toLowerCase()}` : label, a.code ? h("span", { class: "am-code" }, ` ${a.code}`) : null),
      h("p", {}, a.message),
      a.stream_version ? h("p", { class: "muted small" }, `${preview ? "Would be" : "Recorded as"} version ${a.stream_version} of ${a.contract_id}.`) : null),
    kept ? h("div", {}, h("h3", {}, "Margin impact"),
      a.margin_impacts === null || a.margin_impacts === undefined
        ? h("p", { class: "muted small" }, "Not projected yet.")
        : a.margin_impacts.length ? a.margin_impacts.map(impactTable) : h("p", { class: "muted small" }, "This event changes no rate."),
      h("h3", {}, "Alerts"), judged(a.alerts)) : null,
    !preview && kept
      ? h("p", {}, h("button", { type: "button", class: "btn", onclick: newId }, "Record another (new event id)"), " ",
        link(`/app/contracts/${encodeURIComponent(a.contract_id)}`, "Back to the contract"))
      : null,
  ].filter(Boolean);
}

/** Shows the service's answer `r` ({ok, status, body, message, errors}) in `result`, each
 * field's reason beside its field. */
function show(ef, result, r, preview) {
  ef.clearErrors();
  const answer = r.body;
  const a = answer && answer.results ? answer.results[0] : answer;
  if (!a || (!a.status && !r.ok)) {
    ef.formError.textContent = r.message;
    for (const e of r.errors) ef.showFieldError(e.field, e.reason);
    result.replaceChildren(h("div", { class: "am-verdict am-bad" }, h("strong", {}, r.status === 403 ? "403 Forbidden" : `Error ${r.status}`), h("p", {}, r.message)));
    return;
  }
  // Shape errors and refusals both name their field: the reason goes beside it.
  for (const e of a.errors || []) ef.showFieldError(e.field, e.reason);
  result.replaceChildren(...answerView(a, preview, () => { ef.newId(); result.replaceChildren(); }));
}

/** The form, its buttons and what they do. */
function eventForm(ef, types, result) {
  const typeSelect = h("select", { id: "f-type", name: "type", "aria-describedby": "f-type-help" },
    types.map((t) => h("option", { value: t, selected: t === ef.type }, `${words(t)} (${t})`)));
  const previewBtn = h("button", { type: "button", class: "btn", id: "preview" }, "Preview (what-if)");
  const submitBtn = h("button", { type: "submit", class: "btn btn-primary", id: "submit" }, "Submit");
  const form = h("form", { class: "card am-form", novalidate: true, "aria-labelledby": "form-title" },
    h("div", { class: "am-field" }, h("label", { for: "f-type" }, "Event type"), typeSelect,
      h("small", { id: "f-type-help", class: "am-help" }, "Every type of the catalogue; the form below follows its schema.")),
    ef.fieldsBox, ef.formError,
    h("div", { class: "am-actions" }, previewBtn, submitBtn,
      h("button", { type: "button", class: "btn", id: "reset", onclick: () => ef.build(ef.type, {}) }, "Clear")));
  async function send(preview) {
    if (ef.refusedByBrowser()) return;
    previewBtn.disabled = submitBtn.disabled = true;
    result.replaceChildren(h("p", { class: "muted small" }, preview ? "Asking what would happen…" : "Submitting…"));
    try {
      show(ef, result, await api.answer("POST", preview ? "/v1/events/preview" : "/v1/events", ef.values()), preview);
    } catch (e) {
      result.replaceChildren(h("p", { role: "alert" }, `The request failed: ${e.message}`));
    } finally {
      previewBtn.disabled = submitBtn.disabled = false;
    }
  }
  typeSelect.addEventListener("change", () => {
    const keep = {};
    for (const k of ["contract_id", "assignment_id"]) {
      const el = form.querySelector(`[name="${k}"]`);
      if (el && el.value) keep[k] = el.value;
    }
    ef.build(typeSelect.value, keep);
    result.replaceChildren();
  });
  previewBtn.addEventListener("click", () => send(true));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    send(false);
  });
  return form;
}

export async function render(root, params, ctx) {
  if (ctx.session.role === "finance") {
    root.replaceChildren(financeNotice());
    return;
  }
  const q = new URLSearchParams(location.search);
  root.replaceChildren(h("p", { class: "muted small" }, "Loading the event catalogue…"));
  const schemas = await eventSchemas();
  const types = Object.keys(schemas).sort();
  const contracts = await api.answer("GET", "/v1/contracts?limit=1000");
  const contractIds = contracts.ok ? contracts.body.contracts.map((c) => [c.contract_id, c.client_name]) : [];
  const initial = {};
  for (const [k, v] of q.entries()) if (k !== "type") initial[k] = v;
  const ef = new EventForm(schemas, ctx.session);
  ef.build(types.includes(q.get("type")) ? q.get("type") : "RaiseRequested", initial);
  const result = h("section", { class: "am-result", "aria-live": "polite", "aria-label": "Answer" });
  root.replaceChildren(
    h("div", { class: "am-page" },
      h("header", { class: "am-head" }, h("h1", { id: "form-title" }, "Record an event"),
        h("p", { class: "muted small" }, "Preview shows what the writer would decide, the margin impact and the alerts, and records nothing. Submit records it.")),
      h("datalist", { id: "am-contracts" }, contractIds.map(([id, name]) => h("option", { value: id }, name))),
      h("datalist", { id: "am-people" }, knownPeople().map(([id, name]) => h("option", { value: id }, name))),
      h("div", { class: "am-split" }, eventForm(ef, types, result), result),
      h("p", {}, link("/app/contracts", "Back to my contracts"))),
  );
}
