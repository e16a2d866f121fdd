// Parts of the finance drill-down pages: the roll-up cards, the assignment grid, the timeline,
// the alerts.
import { api, ApiError } from "../api.js";
import { el } from "../dom.js";
import { money, num, pct } from "../format.js";
import { statusBadge, moneyCell, pctCell, decCell, kpi, panel, csvLink, alertList } from "../components.js";
import { describeLog } from "../events.js";
import { nameOf } from "../people.js";

/** A roll-up's figures as cards, in one order on every drill-down page: [key, label, shown]. */
const ROLL_UP_CARDS = [
  ["weekly_gross_profit", "Weekly gross profit", money],
  ["margin_pct", "Margin", pct],
  ["markup_pct", "Markup (weighted)", pct],
  ["markup_floor_pct", "Markup floor", pct],
  ["remaining_gross_profit", "Remaining gross profit", money],
  ["at_risk_weekly_gross_profit", "At-risk weekly gross profit", money],
  ["loss_making_assignments", "Loss-making assignments", String],
];

/** The cards of those of `keys` the roll-up `r` shows, each with the figure's key as its id. */
export function rollUpCards(r, keys) {
  return el("div", { class: "cards" },
    ROLL_UP_CARDS.filter(([key]) => keys.includes(key))
      .map(([key, label, shown]) => kpi(label, shown(r[key]), null, { id: key })));
}

/** Every figure of DESIGN's formula table, in the grid's order: [key, heading, cell]. */
export const FIGURES = [
  ["pay_rate", "Pay", moneyCell],
  ["bill_rate", "Bill", moneyCell],
  ["burden_pct", "Burden", pctCell],
  ["msp_fee_pct", "MSP fee", pctCell],
  ["hours_per_week", "Hours / wk", decCell],
  ["markup_pct", "Markup", pctCell],
  ["spread", "Spread", moneyCell],
  ["burdened_cost", "Burdened cost", moneyCell],
  ["margin_per_hour", "Margin / h", moneyCell],
  ["margin_pct", "Margin", pctCell],
  ["weekly_gross_profit", "Weekly GP", moneyCell],
  ["break_even_markup_pct", "Break-even markup", pctCell],
  ["remaining_weeks", "Weeks left", decCell],
  ["remaining_gross_profit", "Remaining GP", moneyCell],
  ["hours_worked", "Hours worked", decCell],
  ["conversion_fee_due", "Conversion fee due", moneyCell],
];

/** The overtime and double-time figures of an assignment (null when it is ot_exempt). */
export const OT_FIGURES = [
  ["planned_ot_hours_per_week", "Planned OT h / wk", decCell],
  ["ot_pay_rate", "OT pay", moneyCell],
  ["ot_bill_rate", "OT bill", moneyCell],
  ["ot_markup_pct", "OT markup", pctCell],
  ["margin_per_ot_hour", "Margin / OT h", moneyCell],
  ["dt_pay_rate", "DT pay", moneyCell],
  ["dt_bill_rate", "DT bill", moneyCell],
  ["dt_markup_pct", "DT markup", pctCell],
  ["margin_per_dt_hour", "Margin / DT h", moneyCell],
];

export function assignmentGrid(assignments, asOf) {
  const heads = ["Assignment", "Staffer", "Status", "Margin status", ...FIGURES.map((f) => f[1])];
  return el("div", { class: "table-wrap", tabindex: "0" }, el("table", { id: "assignments" },
    el("caption", {}, "Each assignment as of the date. Margin status: Loss when margin per hour is below zero; Below floor when the markup is under the contract's floor."),
    el("thead", {}, el("tr", {}, heads.map((h, i) => el("th", { scope: "col", class: i >= 4 ? "num" : "" }, h)))),
    el("tbody", {}, assignments.map((a) => el("tr", { "data-assignment": a.assignment_id },
      el("th", { scope: "row" }, el("a", { href: `/app/finance/assignments/${encodeURIComponent(a.assignment_id)}?as_of=${asOf}`, "data-nav": true }, a.assignment_id)),
      el("td", {}, a.staffer_name || a.staffer_id),
      el("td", {}, a.status),
      el("td", {}, statusBadge(a.margin_status)),
      FIGURES.map(([k, , cell]) => cell(a[k])))))));
}

export async function timeline(contractId, assignmentId) {
  let events = [];
  try {
    // The audit log a page at a time: `next_after_version` names the next page, if any.
    let after = 0;
    for (;;) {
      const page = await api.get("/v1/events", { contract_id: contractId, after_version: after });
      events = events.concat(page.events);
      if (page.next_after_version === undefined) break;
      after = page.next_after_version;
    }
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
  }
  let items = describeLog(events);
  if (assignmentId) {
    items = items.filter(({ event: e }) => !e.assignment_id || e.assignment_id === assignmentId);
  }
  items.reverse();
  return el("ol", { class: "timeline", reversed: true }, items.length ? items.map((i) => el("li", {},
    el("time", { datetime: i.when }, i.when.slice(0, 16).replace("T", " ")),
    el("div", {}, i.text, el("div", { class: "muted" }, `v${i.event.stream_version} · recorded by ${nameOf(i.event.recorded_by)}`))))
    : el("li", { class: "muted" }, "No events."));
}

export async function alertsList(contractId, assignmentId) {
  const r = await api.get("/v1/alerts", { contract_id: contractId, limit: 100 });
  const alerts = assignmentId ? r.alerts.filter((a) => !a.assignment_id || a.assignment_id === assignmentId) : r.alerts;
  return alertList(alerts, el("p", { class: "muted" }, "No alerts."), "alerts");
}

export function factList(pairs) {
  return el("dl", { class: "facts" }, pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

/**
 * Actual against plan over a set of assignments (GET /v1/margins/{portfolio|clients/{id}}/hours):
 * gross profit to date of the reported weeks against their plan, the variance, the forecast,
 * and the last reported weeks as a table, with the CSV of every week.
 */
export function actualAgainstPlan(hours, path, asOf, idPrefix) {
  const forecast = `${money(hours.forecast_remaining_gross_profit)} (${hours.run_rate_assignments} ` +
    `assignment(s) at their run rate, ${hours.plan_assignments} at plan)`;
  const facts = factList([
    ["Hours worked to date (reported weeks)", num(hours.actual_hours_to_date)],
    ["Hours planned for those weeks", num(hours.planned_hours_to_date)],
    ["Actual GP to date", money(hours.actual_gross_profit_to_date)],
    ["Planned GP of those weeks", money(hours.planned_gross_profit_to_date)],
    ["Variance to date", money(hours.variance_to_date)],
    ["Remaining GP forecast", forecast],
  ]);
  const reported = hours.weeks.filter((w) => w.actual_gross_profit !== null).slice(-13).reverse();
  const rows = reported.map((w) => el("tr", {},
    el("td", {}, w.week),
    el("td", { class: "num" }, `${w.assignments_reported} of ${w.assignments}`),
    el("td", { class: "num" }, num(w.planned_hours)), el("td", { class: "num" }, num(w.actual_hours)),
    moneyCell(w.planned_gross_profit), moneyCell(w.actual_gross_profit), moneyCell(w.variance)));
  const table = el("div", { class: "table-wrap", tabindex: "0" }, el("table", { id: `${idPrefix}-weeks` },
    el("caption", {}, "The last reported weeks, latest first. Planned: every active assignment; variance: those reported."),
    el("thead", {}, el("tr", {}, ["Week of", "Reported", "Planned h", "Actual h", "Planned GP", "Actual GP", "Variance"]
      .map((h, k) => el("th", { scope: "col", class: k ? "num" : "" }, h)))),
    el("tbody", {}, rows.length ? rows
      : el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No hours reported yet: the figures are the plan.")))));
  return panel("Actual against plan", `${idPrefix}-h`, csvLink(path, { as_of: asOf }, "weeks"),
    el("div", { id: idPrefix }, facts), table);
}

export { money, pct };
