// Finance: the portfolio as of a date: figure cards with their change over four weeks, the
// weekly gross-profit trend, ranked clients and account managers, the largest recent impacts.
import { nameOf } from "../people.js";
import { api } from "../api.js";
import { el } from "../dom.js";
import { money, num, pct, delta, addDays, today } from "../format.js";
import {
  kpi, changeOf, dataTable, chart, csvLink, asOfPicker, panel, moneyCell, pctCell, numCell,
} from "../components.js";
import { actualAgainstPlan } from "./finance-parts.js";

export const title = "Portfolio";

const ROLLUP_COLUMNS = [
  { key: "contracts_count", label: "Contracts", num: true, cell: (r) => numCell(r.contracts_count) },
  { key: "active_assignments", label: "Active", num: true, cell: (r) => numCell(r.active_assignments) },
  { key: "weekly_gross_profit", label: "Weekly GP", num: true, cell: (r) => moneyCell(r.weekly_gross_profit) },
  { key: "markup_pct", label: "Markup", num: true, cell: (r) => pctCell(r.markup_pct) },
  { key: "margin_pct", label: "Margin", num: true, cell: (r) => pctCell(r.margin_pct) },
  { key: "remaining_gross_profit", label: "Remaining GP", num: true, cell: (r) => moneyCell(r.remaining_gross_profit) },
  { key: "at_risk_weekly_gross_profit", label: "At risk / wk", num: true, cell: (r) => moneyCell(r.at_risk_weekly_gross_profit) },
  { key: "loss_making_assignments", label: "Loss-making", num: true, cell: (r) => numCell(r.loss_making_assignments) },
];

function keepInUrl(prefix) {
  return ({ sort, page }) => {
    const q = new URLSearchParams(location.search);
    q.set(`${prefix}sort`, sort);
    if (page) q.set(`${prefix}page`, String(page)); else q.delete(`${prefix}page`);
    history.replaceState(null, "", `${location.pathname}?${q}`);
  };
}

function rankedTable(id, caption, path, asOf, query, prefix, firstColumn, healthLabel) {
  const health = { key: "health_score", label: healthLabel, num: true, cell: (r) => numCell(r.health_score) };
  return dataTable({
    id,
    caption,
    columns: [firstColumn, ...ROLLUP_COLUMNS, health],
    sort: query.get(`${prefix}sort`) || "-weekly_gross_profit",
    page: Number(query.get(`${prefix}page`) || 0),
    pageSize: 10,
    onState: keepInUrl(prefix),
    load: async ({ sort, limit, offset }) => {
      const r = await api.get(path, { as_of: asOf, sort, limit, offset });
      return { rows: r.rows, total: r.total };
    },
  });
}

/** The portfolio's figures as cards, each with its change over four weeks. */
function figureCards(now, then) {
  const count = (n) => String(n);
  const countChange = (a, b) => ({ text: `${a - b > 0 ? "+" : ""}${a - b} vs 4 weeks earlier`, sign: Math.sign(a - b) });
  return el("div", { class: "cards" },
    kpi("Weekly gross profit", money(now.weekly_gross_profit), changeOf(now.weekly_gross_profit, then.weekly_gross_profit), { id: "weekly_gross_profit" }),
    kpi("Margin", pct(now.margin_pct), changeOf(now.margin_pct, then.margin_pct, (d) => `${delta(d)} pts`), { id: "margin_pct" }),
    kpi("Markup (weighted by pay × hours)", pct(now.markup_pct), changeOf(now.markup_pct, then.markup_pct, (d) => `${delta(d)} pts`), { id: "markup_pct" }),
    kpi("Remaining gross profit", money(now.remaining_gross_profit), changeOf(now.remaining_gross_profit, then.remaining_gross_profit), { id: "remaining_gross_profit" }),
    kpi("At-risk weekly gross profit", money(now.at_risk_weekly_gross_profit), changeOf(now.at_risk_weekly_gross_profit, then.at_risk_weekly_gross_profit), { id: "at_risk_weekly_gross_profit", good: false }),
    kpi("Loss-making assignments", count(now.loss_making_assignments), countChange(now.loss_making_assignments, then.loss_making_assignments), { id: "loss_making_assignments", good: false }),
  );
}

/** The largest margin impacts of the 7 days to `asOf`. */
function impactsTable(impacts, asOf) {
  const impactRows = impacts.margin_impacts.map((i) => el("tr", {},
    el("td", {}, i.occurred_at.slice(0, 10)),
    el("td", {}, el("a", { href: `/app/finance/contracts/${encodeURIComponent(i.contract_id)}?as_of=${asOf}`, "data-nav": true }, i.client_name)),
    el("td", {}, el("a", { href: `/app/finance/assignments/${encodeURIComponent(i.assignment_id)}?as_of=${asOf}`, "data-nav": true }, i.assignment_id)),
    el("td", {}, `${i.event_type} (${i.basis})`),
    el("td", { class: "num" }, `${money(i.before_pay_rate)} → ${money(i.after_pay_rate)}`),
    el("td", { class: "num" }, `${money(i.before_bill_rate)} → ${money(i.after_bill_rate)}`),
    moneyCell(i.delta_weekly_gross_profit),
    moneyCell(i.delta_remaining_gross_profit)));
  return el("div", { class: "table-wrap", tabindex: "0" }, el("table", { id: "impacts" },
    el("caption", {}, `Changes made ${addDays(asOf, -6)} to ${asOf}, largest change in weekly gross profit first.`),
    el("thead", {}, el("tr", {}, ["Date", "Client", "Assignment", "Change", "Pay", "Bill", "Δ weekly GP", "Δ remaining GP"]
      .map((h, k) => el("th", { scope: "col", class: k >= 4 ? "num" : "" }, h)))),
    el("tbody", {}, impactRows.length ? impactRows
      : el("tr", {}, el("td", { colspan: 8, class: "muted" }, "No margin impact in these 7 days.")))));
}

/** The weekly gross profit of the last 26 weeks, drawn. */
function trendChart(chartBox, trend) {
  return chart(chartBox, {
    grid: { left: 70, right: 16, top: 16, bottom: 30 },
    tooltip: {
      trigger: "axis",
      formatter: (ps) => `${ps[0].axisValue}<br>Weekly gross profit: ${money(trend.points[ps[0].dataIndex].weekly_gross_profit)}`,
    },
    xAxis: { type: "category", data: trend.points.map((p) => p.week_ending) },
    yAxis: { type: "value", axisLabel: { formatter: (v) => num(String(Math.round(v)), 0) } },
    series: [{
      name: "Weekly gross profit",
      type: "line",
      // Plotting only: the figures shown as text come from the decimal strings.
      data: trend.points.map((p) => Number(p.weekly_gross_profit)),
      areaStyle: { opacity: 0.08 },
      lineStyle: { width: 2 },
      symbolSize: 5,
      color: "#1f5fbf",
    }],
  });
}

export async function render(root, params, ctx) {
  const asOf = ctx.query.get("as_of") || today();
  const before = addDays(asOf, -28);
  // The ranked tables start loading at once, alongside the figures.
  const clients = rankedTable("clients", "Clients ranked; select a column heading to sort.",
    "/v1/margins/clients", asOf, ctx.query, "c",
    { key: "name", label: "Client", cell: (r) => el("td", {}, el("a", { href: `/app/finance/clients/${encodeURIComponent(r.client_id)}?as_of=${asOf}`, "data-nav": true }, r.name)) },
    "Health");
  const managers = rankedTable("account-managers", "Account managers ranked; select a column heading to sort.",
    "/v1/margins/account-managers", asOf, ctx.query, "m",
    { key: "name", label: "Account manager", cell: (r) => el("td", {}, nameOf(r.account_manager_id)) },
    "Client health (mean)");

  const [now, then, trend, impacts, hours] = await Promise.all([
    api.get("/v1/margins/portfolio", { as_of: asOf, limit: 1 }),
    api.get("/v1/margins/portfolio", { as_of: before, limit: 1 }),
    api.get("/v1/margins/portfolio/trend", { as_of: asOf, weeks: 26 }),
    api.get("/v1/margin-impacts", { since: addDays(asOf, -6), until: asOf, sort: "largest", limit: 10 }),
    // The weeks of the last quarter: the table shows the last 13 reported; the sums are whole.
    api.get("/v1/margins/portfolio/hours", { as_of: asOf, since: addDays(asOf, -91) }),
  ]);

  const cards = figureCards(now, then);
  const chartBox = el("div", { class: "chart", id: "trend-chart", role: "img",
    "aria-label": `Weekly gross profit for the 26 weeks ending ${asOf}` });
  const trendPanel = panel("Weekly gross profit, last 26 weeks", "trend-h",
    csvLink("/v1/margins/portfolio/trend", { as_of: asOf, weeks: 26 }, "the trend"), chartBox);

  const impactTable = impactsTable(impacts, asOf);

  root.replaceChildren(
    el("div", { class: "page-head" },
      el("div", {}, el("h1", {}, "Portfolio"),
        el("div", { class: "sub" }, `Figures as of ${asOf}; changes against ${before}.`)),
      asOfPicker(asOf, (d) => ctx.setQuery({ as_of: d, cpage: null, mpage: null }))),
    cards,
    trendPanel,
    actualAgainstPlan(hours, "/v1/margins/portfolio/hours", asOf, "portfolio-actual"),
    panel("By client", "clients-h", csvLink("/v1/margins/clients", { as_of: asOf, limit: 1000 }, "clients"), clients),
    panel("By account manager", "managers-h", csvLink("/v1/margins/account-managers", { as_of: asOf, limit: 1000 }, "account managers"), managers),
    panel("Largest margin impacts, last 7 days", "impacts-h",
      csvLink("/v1/margin-impacts", { since: addDays(asOf, -6), until: asOf, sort: "largest", limit: 1000 }, "margin impacts"), impactTable),
  );

  await Promise.all([
    clients.ready,
    managers.ready,
    trendChart(chartBox, trend),
  ]);
}
