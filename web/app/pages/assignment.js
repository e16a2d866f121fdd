// Finance: one assignment: every figure with its margin status, its overtime and double time,
// pay and bill over time, hours worked against plan per week (a chart, the run-rate forecast and
// a link to report a week's hours), its part of the contract's log and its alerts.
import { api } from "../api.js";
import { el } from "../dom.js";
import { money, num, today } from "../format.js";
import { crumbs, asOfPicker, panel, csvLink, statusBadge, chart } from "../components.js";
import { FIGURES, OT_FIGURES, timeline, alertsList, factList } from "./finance-parts.js";

export const title = "Assignment";

/** Every figure of the assignment, its terms above them. */
function figuresPanel(a, asOf, id) {
  const text = (k, v) => FIGURES.find((f) => f[0] === k)[2](v).textContent;
  const figures = el("dl", { class: "facts", id: "figures" }, FIGURES.flatMap(([k, label]) => [
    el("dt", {}, label), el("dd", { "data-figure": k }, text(k, a[k]))]));
  return panel("Figures", "figures-h", csvLink(`/v1/margins/assignments/${id}`, { as_of: asOf }, "figures"),
    factList([["Term", `${a.start_date} to ${a.expected_end_date}${a.end_date ? ` (ended ${a.end_date}, ${a.end_reason})` : ""}`],
      ["Rates in force since", a.rates_effective_date],
      ["Contract's markup floor", a.markup_floor_pct === null ? "—" : `${a.markup_floor_pct} %`]]),
    el("hr", { style: "border: 0; border-top: 1px solid var(--line)" }), figures);
}

function overtimePanel(a) {
  const figures = el("dl", { class: "facts", id: "ot-figures" }, a.ot_exempt
    ? [el("dt", {}, "Overtime"), el("dd", { "data-figure": "ot_exempt" }, "Exempt: no overtime or double time")]
    : OT_FIGURES.flatMap(([k, label, cell]) => [el("dt", {}, label), el("dd", { "data-figure": k }, cell(a[k]).textContent)]));
  return panel("Overtime and double time", "ot-h", null, figures);
}

/** Pay and bill over time: the chart box (drawn by rateChart once in the page) and the table. */
function ratesPanel(history, id, chartBox) {
  const rateRows = history.rates.map((r) => el("tr", {},
    el("td", {}, r.effective_date), el("td", { class: "num" }, money(r.pay_rate)),
    el("td", { class: "num" }, money(r.bill_rate)), el("td", { class: "num" }, `${r.markup_pct} %`)));
  return panel("Pay and bill over time", "rates-h", csvLink(`/v1/margins/assignments/${id}/rates`, {}, "rate history"),
    chartBox,
    el("div", { class: "table-wrap", tabindex: "0" }, el("table", { id: "rates" },
      el("caption", {}, "Rate history by effective date"),
      el("thead", {}, el("tr", {}, ["Effective", "Pay", "Bill", "Markup"].map((h, i) => el("th", { scope: "col", class: i ? "num" : "" }, h)))),
      el("tbody", {}, rateRows))));
}

/** A step chart: each rate holds from its effective date to the next (or to the as-of date). */
function rateChart(chartBox, history, a, asOf) {
  const points = history.rates.map((r) => r.effective_date);
  const last = [a.expected_end_date, asOf].sort()[0];
  const end = last > points[points.length - 1] ? last : null;
  const xs = end ? [...points, end] : points;
  const series = (key) => {
    const ys = history.rates.map((r) => Number(r[key])); // plotting only
    return end ? [...ys, ys[ys.length - 1]] : ys;
  };
  return chart(chartBox, {
    grid: { left: 56, right: 16, top: 30, bottom: 30 },
    legend: { top: 0 },
    tooltip: {
      trigger: "axis",
      // The decimal strings of the rate in force, not the plotted numbers.
      formatter: (ps) => {
        const r = history.rates[Math.min(ps[0].dataIndex, history.rates.length - 1)];
        return `From ${r.effective_date}<br>Pay ${money(r.pay_rate)}<br>Bill ${money(r.bill_rate)}`;
      },
    },
    xAxis: { type: "time" },
    yAxis: { type: "value", scale: true },
    series: [
      { name: "Pay", type: "line", step: "end", color: "#8a5300", data: xs.map((x, i) => [x, series("pay_rate")[i]]) },
      { name: "Bill", type: "line", step: "end", color: "#1f5fbf", data: xs.map((x, i) => [x, series("bill_rate")[i]]) },
    ],
  });
}

export async function render(root, { assignment_id }, ctx) {
  const asOf = ctx.query.get("as_of") || today();
  const id = encodeURIComponent(assignment_id);
  const [a, history, hours] = await Promise.all([
    api.get(`/v1/margins/assignments/${id}`, { as_of: asOf }),
    api.get(`/v1/margins/assignments/${id}/rates`),
    api.get(`/v1/margins/assignments/${id}/hours`, { as_of: asOf }),
  ]);
  const [log, alerts] = await Promise.all([timeline(a.contract_id, assignment_id), alertsList(a.contract_id, assignment_id)]);
  const who = a.staffer_name || a.staffer_id;
  document.title = `${who} (${assignment_id}) · Markup Ledger`;
  const hoursPanel = hoursSection(hours, a, asOf, who);
  const chartBox = el("div", { class: "chart", id: "rates-chart", role: "img",
    "aria-label": `Pay and bill rates of ${who} from each effective date` });
  root.replaceChildren(
    crumbs([["Portfolio", `/app/finance?as_of=${asOf}`],
      [a.client_name, `/app/finance/clients/${encodeURIComponent(a.client_id)}?as_of=${asOf}`],
      [a.contract_id, `/app/finance/contracts/${encodeURIComponent(a.contract_id)}?as_of=${asOf}`],
      [assignment_id, location.pathname]]),
    el("div", { class: "page-head" },
      el("div", {}, el("h1", {}, `${who} (${assignment_id})`),
        el("div", { class: "sub" }, `${a.job_title} at ${a.client_name} · ${a.status} · `, statusBadge(a.margin_status),
          ` · figures as of ${asOf}`)),
      asOfPicker(asOf, (d) => ctx.setQuery({ as_of: d }))),
    el("div", { class: "grid2" }, figuresPanel(a, asOf, id), ratesPanel(history, id, chartBox)),
    el("div", { class: "grid2" }, overtimePanel(a), hoursPanel.panel),
    el("div", { class: "grid2" },
      panel("Event timeline", "timeline-h", null, log),
      panel("Alerts", "alerts-h", null, alerts)),
  );
  await hoursPanel.draw();
  await rateChart(chartBox, history, a, asOf);
}

/** Hours worked against plan: the forecast, a chart of planned and actual gross profit of the
 * last 26 weeks, the last 8 as a table (every week: the CSV of
 * GET /v1/margins/assignments/{id}/hours). */
function hoursSection(hours, a, asOf, who) {
  const id = encodeURIComponent(a.assignment_id);
  const report = `/app/events/new?contract_id=${encodeURIComponent(a.contract_id)}&assignment_id=${id}&type=HoursReported`;
  const basis = hours.forecast_basis === "run_rate"
    ? `at the run rate of the last reported weeks (${money(hours.forecast_weekly_gross_profit)} a week)`
    : `at the plan (${money(hours.forecast_weekly_gross_profit)} a week): no week reported yet`;
  const facts = factList([
    ["Actual GP to date (reported weeks)", money(hours.actual_gross_profit_to_date)],
    ["Planned GP of those weeks", money(hours.planned_gross_profit_to_date)],
    ["Variance to date", money(hours.variance_to_date)],
    ["Remaining GP forecast", `${money(hours.forecast_remaining_gross_profit)}, ${basis}`],
  ]);
  const box = el("div", { class: "chart", id: "hours-chart", role: "img",
    "aria-label": `Planned and actual weekly gross profit of ${who}` });
  const weeks = hours.weeks.slice(-26);
  const rows = weeks.slice(-8).reverse().map((w) => el("tr", { "data-week": w.week },
    el("td", {}, w.week), el("td", { class: "num" }, num(w.planned_hours)),
    el("td", { class: "num" }, num(w.actual_hours)), el("td", { class: "num" }, money(w.planned_gross_profit)),
    el("td", { class: "num" }, money(w.actual_gross_profit)), el("td", { class: "num" }, money(w.variance)),
    el("td", {}, w.source ? `${w.source}${w.corrected ? " (corrected)" : ""}` : "—")));
  const table = el("div", { class: "table-wrap", tabindex: "0" }, el("table", { id: "hours" },
    el("caption", {}, "Hours and gross profit of the last 8 weeks, latest first, planned against reported (every week: Download CSV)"),
    el("thead", {}, el("tr", {}, ["Week", "Planned h", "Actual h", "Planned GP", "Actual GP", "Variance", "Source"]
      .map((t, i) => el("th", { scope: "col", class: i && i < 6 ? "num" : "" }, t)))),
    el("tbody", {}, rows)));
  const links = el("span", {}, el("a", { href: report, id: "report-hours" }, "Report a week's hours"), " · ",
    csvLink(`/v1/margins/assignments/${id}/hours`, { as_of: asOf }, "hours"));
  return {
    panel: panel("Hours worked against plan", "hours-h", links, facts, box, table),
    draw: () => chart(box, {
      grid: { left: 56, right: 16, top: 30, bottom: 30 },
      legend: { top: 0 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: weeks.map((w) => w.week) },
      yAxis: { type: "value" },
      series: [
        // plotting only: the figures themselves are the strings in the table
        { name: "Planned GP", type: "line", step: "middle", color: "#8a5300", data: weeks.map((w) => Number(w.planned_gross_profit)) },
        { name: "Actual GP", type: "bar", color: "#1f5fbf", data: weeks.map((w) => (w.actual_gross_profit === null ? null : Number(w.actual_gross_profit))) },
      ],
    }),
  };
}
