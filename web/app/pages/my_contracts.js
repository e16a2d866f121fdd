// My contracts: each of the account manager's contracts with its margin status (colour and
// words), its open negotiations, raise requests and bypass threats, and a way to record an
// event on it. Finance and admin see every contract.
import { nameOf } from "../people.js";
import { api } from "../api.js";
import { el as h } from "../dom.js";
import { money, pct } from "../format.js";
import { link, listOr, problem, statusBadge } from "../components.js";

export const title = "My contracts";

const PAGE = 50;

function items(list, kind, cid, type, idField) {
  return listOr(
    list,
    "am-chips",
    (i) =>
      h(
        "li",
        {},
        link(
          `/app/events/new?contract_id=${encodeURIComponent(cid)}&type=${type}` +
            (idField ? `&${idField}=${encodeURIComponent(i.id)}` : "") +
            (i.assignment_id ? `&assignment_id=${encodeURIComponent(i.assignment_id)}` : ""),
          i.id + (i.assignment_id ? ` (${i.assignment_id})` : ""),
          { title: `${kind} ${i.id}: record what happened next` },
        ),
      ),
    h("span", { class: "muted small" }, "none"),
  );
}

function alertsCell(open) {
  const parts = Object.entries(open || {}).filter(([, n]) => n > 0);
  if (!parts.length) return h("span", { class: "muted small" }, "none");
  return h(
    "span",
    {},
    parts.map(([sev, n]) => h("span", { class: `sev sev-${sev}` }, `${n} ${sev}`)),
  );
}

function contractRow(c, mine) {
  return h("tr", { "data-contract": c.contract_id, class: `am-row-${c.margin_status}` },
    h("td", {}, statusBadge(c.margin_status, c.margin_status_text)),
    h("th", { scope: "row" }, link(`/app/contracts/${encodeURIComponent(c.contract_id)}`, c.contract_id)),
    h("td", {}, c.client_name),
    mine ? null : h("td", {}, nameOf(c.account_manager_id)),
    h("td", { class: "num" }, String(c.assignments.length)),
    h("td", { class: "num" }, c.markup_floor_pct === null ? "—" : pct(c.markup_floor_pct)),
    h("td", { class: "num" }, c.assignments.length
      ? c.assignments.map((a) => h("div", { class: a.margin_per_hour.startsWith("-") ? "neg" : "" }, `${a.assignment_id}: ${money(a.margin_per_hour)}/h`))
      : "—"),
    h("td", {}, items(c.open_negotiations, "Negotiation", c.contract_id, "MarkupProposed", "negotiation_id")),
    h("td", {}, items(c.open_raise_requests, "Raise request", c.contract_id, "RaiseApproved", "raise_request_id")),
    h("td", {}, items(c.bypass_threats, "Bypass threat", c.contract_id, "ClientContactLogged", null)),
    h("td", {}, alertsCell(c.open_alerts)),
    h("td", {}, link(`/app/events/new?contract_id=${encodeURIComponent(c.contract_id)}`, "Record event", { class: "btn btn-primary btn-small" })));
}

function contractsTable(contracts, mine) {
  const heads = ["Status", "Contract", "Client", mine ? null : "Manager", "Active", "Floor", "Margin / h",
    "Open negotiations", "Raise requests", "Bypass threats", "Unresolved alerts", ""].filter((x) => x !== null);
  return h("div", { class: "table-wrap framed" },
    h("table", { class: "am-table" },
      h("caption", { class: "visually-hidden" }, mine ? "My contracts" : "Contracts"),
      h("thead", {}, h("tr", {}, heads.map((t) => h("th", { scope: "col" }, t || h("span", { class: "visually-hidden" }, "Actions"))))),
      h("tbody", {}, contracts.map((c) => contractRow(c, mine)))));
}

/** How many contracts of this page are red, amber and green. */
function summary(contracts) {
  const counts = { red: 0, amber: 0, green: 0 };
  for (const c of contracts) counts[c.margin_status] += 1;
  return h("ul", { class: "am-summary", "aria-label": "Contracts by status on this page" },
    ["red", "amber", "green"].map((s) => h("li", { class: `card card-${s}` }, statusBadge(s), h("strong", {}, String(counts[s])))));
}

function pager(offset, shown, total) {
  return h("nav", { class: "pager", "aria-label": "Pages of contracts" },
    h("span", {}, `${total ? offset + 1 : 0}–${offset + shown} of ${total}`),
    offset > 0 ? link(`/app/contracts?offset=${Math.max(0, offset - PAGE)}`, "Previous") : null,
    offset + PAGE < total ? link(`/app/contracts?offset=${offset + PAGE}`, "Next") : null);
}

export async function render(root, params, ctx) {
  const mine = ctx.session.role === "account_manager";
  const offset = Math.max(0, Number(ctx.query.get("offset") || 0) | 0);
  root.replaceChildren(h("p", { class: "muted small" }, "Loading contracts…"));
  const r = await api.answer("GET", `/v1/contracts?limit=${PAGE}&offset=${offset}`);
  if (!r.ok) {
    root.replaceChildren(problem(r.status, r.message));
    return;
  }
  const { contracts, total, as_of } = r.body;
  root.replaceChildren(
    h("div", { class: "am-page" },
      h("header", { class: "am-head" },
        h("h1", {}, mine ? "My contracts" : "Contracts"),
        h("p", { class: "muted small" }, `As of ${as_of}. Status: red, an active assignment loses money every hour; amber, a markup is below the contract's floor; green otherwise.`),
        h("div", { class: "am-actions" }, link("/app/events/new", "Record an event", { class: "btn btn-primary" }))),
      summary(contracts),
      contracts.length ? contractsTable(contracts, mine) : h("p", {}, "No contracts yet. Record a ContractSigned event to start one."),
      pager(offset, contracts.length, total)),
  );
}
