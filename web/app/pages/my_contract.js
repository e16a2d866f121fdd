// One of my contracts: its status, active assignments with their margin, open items (each
// with a link to record what happened next) and a link to record any event on it.
import { nameOf } from "../people.js";
import { api } from "../api.js";
import { el as h } from "../dom.js";
import { money, pct, words } from "../format.js";
import { alertList, link, problem, statusBadge } from "../components.js";

export const title = "Contract";

function itemList(title, list, cid, actions) {
  return h(
    "section",
    { class: "card am-items" },
    h("h2", {}, `${title} (${list.length})`),
    list.length
      ? h(
          "ul",
          {},
          list.map((i) =>
            h(
              "li",
              {},
              h("strong", {}, i.id),
              i.assignment_id ? ` on ${i.assignment_id} ` : " ",
              actions.map(([type, field]) =>
                link(
                  `/app/events/new?contract_id=${encodeURIComponent(cid)}&type=${type}` +
                    (field ? `&${field}=${encodeURIComponent(i.id)}` : "") +
                    (i.assignment_id ? `&assignment_id=${encodeURIComponent(i.assignment_id)}` : ""),
                  words(type),
                  { class: "btn btn-primary btn-small" },
                ),
              ),
            ),
          ),
        )
      : h("p", { class: "muted small" }, "None open."),
  );
}

/** The contract's open alerts, on the page (not one link away): what each pending request or
 * proposal would do is there, as a proposed alert with its exposure and its sentence. */
function openAlerts(alerts) {
  return h(
    "section",
    { class: "card", "aria-labelledby": "open-alerts-h" },
    h("h2", { id: "open-alerts-h" }, `Open alerts (${alerts.length})`),
    alertList(alerts, h("p", { class: "muted small" }, "None open.")),
  );
}

/** The link that opens the event form on this contract, with `type` chosen. */
const recorder = (cid) => (type, extra = "") =>
  `/app/events/new?contract_id=${encodeURIComponent(cid)}&type=${type}${extra}`;

function head(c, rec) {
  return h("header", { class: "am-head" },
    h("h1", {}, `Contract ${c.contract_id} `, statusBadge(c.status === "terminated" ? "terminated" : c.margin_status)),
    h("p", {}, `${c.client_name} (${c.client_id}) · managed by ${nameOf(c.account_manager_id)} · ${c.status} · as of ${c.as_of}`),
    h("p", { class: `status-line status-${c.margin_status}` }, c.margin_status_text),
    h("div", { class: "am-actions" },
      link(rec("RaiseRequested"), "Record a raise request", { class: "btn btn-primary" }),
      link(rec("MarkupNegotiationOpened"), "Open a negotiation", { class: "btn btn-primary" }),
      link(rec("ClientContactLogged"), "Log a contact", { class: "btn btn-primary" }),
      link(rec(""), "Any event", { class: "btn" })));
}

function assignmentRow(a, rec) {
  const signed = (v) => `num ${v.startsWith("-") ? "neg" : ""}`;
  return h("tr", {},
    h("td", {}, statusBadge(a.margin_status)),
    h("th", { scope: "row" }, a.assignment_id),
    h("td", {}, a.staffer_name || a.staffer_id),
    h("td", {}, a.job_title),
    h("td", { class: "num" }, money(a.pay_rate)),
    h("td", { class: "num" }, money(a.bill_rate)),
    h("td", { class: "num" }, pct(a.markup_pct)),
    h("td", { class: signed(a.margin_per_hour) }, money(a.margin_per_hour)),
    h("td", { class: signed(a.weekly_gross_profit) }, money(a.weekly_gross_profit)),
    h("td", {}, link(rec("RatesAdjusted", `&assignment_id=${encodeURIComponent(a.assignment_id)}`), "Adjust rates", { class: "btn btn-primary btn-small" })));
}

function assignments(c, rec) {
  const heads = ["Status", "Assignment", "Staffer", "Job", "Pay", "Bill", "Markup", "Margin / h", "Weekly GP", ""];
  return h("section", { class: "card" }, h("h2", {}, "Active assignments"),
    c.assignments.length
      ? h("table", { class: "am-table" },
        h("thead", {}, h("tr", {}, heads.map((t) => h("th", { scope: "col" }, t || h("span", { class: "visually-hidden" }, "Actions"))))),
        h("tbody", {}, c.assignments.map((a) => assignmentRow(a, rec))))
      : h("p", { class: "muted small" }, "No active assignment."));
}

export async function render(root, params, ctx) {
  const cid = params.id;
  root.replaceChildren(h("p", { class: "muted small" }, "Loading contract…"));
  const r = await api.answer("GET", `/v1/contracts/${encodeURIComponent(cid)}`);
  if (!r.ok) {
    root.replaceChildren(
      h("div", { class: "am-page" }, h("h1", {}, `Contract ${cid}`), problem(r.status, r.message),
        h("p", {}, link("/app/contracts", "Back to my contracts"))),
    );
    return;
  }
  const c = r.body;
  const al = await api.answer("GET", `/v1/alerts?contract_id=${encodeURIComponent(cid)}&status=open&limit=100`);
  const rec = recorder(cid);
  root.replaceChildren(
    h("div", { class: "am-page" },
      head(c, rec),
      assignments(c, rec),
      openAlerts(al.ok ? al.body.alerts : []),
      h("div", { class: "am-grid3" },
        itemList("Open negotiations", c.open_negotiations, cid, [["MarkupProposed", "negotiation_id"], ["MarkupAgreed", "negotiation_id"], ["MarkupNegotiationClosed", "negotiation_id"]]),
        itemList("Open raise requests", c.open_raise_requests, cid, [["RaiseApproved", "raise_request_id"], ["RaiseDeclined", "raise_request_id"]]),
        itemList("Bypass threats", c.bypass_threats, cid, [["ClientContactLogged", null]])),
      h("p", {}, link("/app/contracts", "Back to my contracts"), " · ", link(`/app/alerts?contract_id=${encodeURIComponent(cid)}`, "This contract's alerts"))),
  );
}
