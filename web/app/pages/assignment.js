// Finance: one assignment: every figure with its margin status, pay and bill over time, its
// part of the contract's log and its alerts.
import { api } from "../api.js";
import { el } from "../dom.js";
import { money, today } from "../format.js";
import { crumbs, asOfPicker, panel, csvLink, statusBadge, chart } from "../components.js";
import { FIGURES, timeline, alertsList, factList } from "./finance-parts.js";

export const title = "Assignment";

export async function render(root, { assignment_id }, ctx) {
  const asOf = ctx.query.get("as_of") || today();
  const id = encodeURIComponent(assignment_id);
  const [a, history] = await Promise.all([
    api.get(`/v1/margins/assignments/${id}`, { as_of: asOf }),
    api.get(`/v1/margins/assignments/${id}/rates`),
  ]);
  const [log, alerts] = await Promise.all([timeline(a.contract_id, assignment_id), alertsList(a.contract_id, assignment_id)]);
  const who = a.staffer_name || a.staffer_id;
  document.title = `${who} (${assignment_id}) · Markup Ledger`;
  const fmt = (k, v) => {
    const td = FIGURES.find((f) => f[0] === k)[2](v);
    return td.textContent;
  };
  const figures = el("dl", { class: "facts", id: "figures" }, FIGURES.flatMap(([k, label]) => [
    el("dt", {}, label), el("dd", { "data-figure": k }, fmt(k, a[k]))]));
  const chartBox = el("div", { class: "chart", id: "rates-chart", role: "img",
    "aria-label": `Pay and bill rates of ${who} from each effective date` });
  const rateRows = history.rates.map((r) => el("tr", {},
    el("td", {}, r.effective_date), el("td", { class: "num" }, money(r.pay_rate)),
    el("td", { class: "num" }, money(r.bill_rate)), el("td", { class: "num" }, `${r.markup_pct} %`)));
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
    el("div", { class: "grid2" },
      panel("Figures", "figures-h", csvLink(`/v1/margins/assignments/${id}`, { as_of: asOf }, "figures"),
        factList([["Term", `${a.start_date} to ${a.expected_end_date}${a.end_date ? ` (ended ${a.end_date}, ${a.end_reason})` : ""}`],
          ["Rates in force since", a.rates_effective_date],
          ["Contract's markup floor", a.markup_floor_pct === null ? "—" : `${a.markup_floor_pct} %`]]),
        el("hr", { style: "border: 0; border-top: 1px solid var(--line)" }), figures),
      panel("Pay and bill over time", "rates-h", csvLink(`/v1/margins/assignments/${id}/rates`, {}, "rate history"),
        chartBox,
        el("div", { class: "table-wrap", tabindex: "0" }, el("table", { id: "rates" },
          el("caption", {}, "Rate history by effective date"),
          el("thead", {}, el("tr", {}, ["Effective", "Pay", "Bill", "Markup"].map((h, i) => el("th", { scope: "col", class: i ? "num" : "" }, h)))),
          el("tbody", {}, rateRows))))),
    el("div", { class: "grid2" },
      panel("Event timeline", "timeline-h", null, log),
      panel("Alerts", "alerts-h", null, alerts)),
  );
  // A step chart: each rate holds from its effective date to the next (or to the as-of date).
  const points = history.rates.map((r) => r.effective_date);
  const end = [a.expected_end_date, asOf].sort()[0] > points[points.length - 1] ? [a.expected_end_date, asOf].sort()[0] : null;
  const xs = end ? [...points, end] : points;
  const series = (key) => {
    const ys = history.rates.map((r) => Number(r[key])); // plotting only
    return end ? [...ys, ys[ys.length - 1]] : ys;
  };
  await chart(chartBox, {
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
