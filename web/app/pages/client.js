// Finance: one client's contracts with their roll-ups, and its health (score, parts, the last
// 26 weeks), as of a date.
import { api } from "../api.js";
import { nameOf } from "../people.js";
import { el } from "../dom.js";
import { today } from "../format.js";
import { crumbs, asOfPicker, panel, csvLink, moneyCell, pctCell, numCell, chart } from "../components.js";
import { actualAgainstPlan, rollUpCards } from "./finance-parts.js";

export const title = "Client";

export async function render(root, { client_id }, ctx) {
  const asOf = ctx.query.get("as_of") || today();
  const id = encodeURIComponent(client_id);
  const [c, health, hours] = await Promise.all([
    api.get(`/v1/margins/clients/${id}`, { as_of: asOf, limit: 1000 }),
    api.get(`/v1/margins/clients/${id}/health`, { as_of: asOf }),
    api.get(`/v1/margins/clients/${id}/hours`, { as_of: asOf }),
  ]);
  const name = c.contracts.length ? c.contracts[0].client_name : client_id;
  document.title = `${name} · Markup Ledger`;
  const heads = ["Contract", "Account manager", "Active", "Weekly GP", "Markup", "Margin", "Remaining GP", "At risk / wk", "Loss-making"];
  const rows = c.contracts.map((k) => el("tr", {},
    el("td", {}, el("a", { href: `/app/finance/contracts/${encodeURIComponent(k.contract_id)}?as_of=${asOf}`, "data-nav": true }, k.contract_id)),
    el("td", {}, nameOf(k.account_manager_id)),
    numCell(k.active_assignments),
    moneyCell(k.weekly_gross_profit), pctCell(k.markup_pct), pctCell(k.margin_pct),
    moneyCell(k.remaining_gross_profit), moneyCell(k.at_risk_weekly_gross_profit),
    numCell(k.loss_making_assignments)));
  const healthCard = healthPanel(health, id, asOf, name);
  root.replaceChildren(
    crumbs([["Portfolio", `/app/finance?as_of=${asOf}`], [name, location.pathname]]),
    el("div", { class: "page-head" },
      el("div", {}, el("h1", {}, name), el("div", { class: "sub" }, `Client ${client_id} · figures as of ${asOf}`)),
      asOfPicker(asOf, (d) => ctx.setQuery({ as_of: d }))),
    rollUpCards(c, ["weekly_gross_profit", "margin_pct", "markup_pct", "remaining_gross_profit",
      "at_risk_weekly_gross_profit", "loss_making_assignments"]),
    healthCard.panel,
    actualAgainstPlan(hours, `/v1/margins/clients/${id}/hours`, asOf, "actual"),
    panel("Contracts", "contracts-h", csvLink(`/v1/margins/clients/${encodeURIComponent(client_id)}`, { as_of: asOf, limit: 1000 }, "contracts"),
      el("div", { class: "table-wrap", tabindex: "0" }, el("table", { id: "contracts" },
        el("caption", {}, `${c.contracts_count} contract(s) with assignments`),
        el("thead", {}, el("tr", {}, heads.map((h, i) => el("th", { scope: "col", class: i >= 2 ? "num" : "" }, h)))),
        el("tbody", {}, rows)))),
  );
  await healthCard.draw();
}

/** The client's health: its score, each part with its points and why, and a sparkline of the
 * score on each of the last 26 weeks. */
function healthPanel(health, id, asOf, name) {
  const parts = health.parts.map((p) => el("tr", { "data-part": p.name },
    el("td", {}, p.name.replace(/_/g, " ")), el("td", { class: "num" }, p.points ? `−${p.points}` : "0"),
    el("td", { class: "num" }, String(p.cap)), el("td", {}, p.why)));
  const spark = el("div", { class: "chart", id: "health-chart", style: "height: 120px", role: "img",
    "aria-label": `Health score of ${name} on each of the last 26 weeks` });
  const box = el("div", {},
    el("p", { class: "kpi-value", id: "health-score" }, el("strong", {}, `${health.score}`), " / 100"),
    spark,
    el("div", { class: "table-wrap", tabindex: "0" }, el("table", { id: "health-parts" },
      el("caption", {}, "What the score is made of: each part takes points off the 100"),
      el("thead", {}, el("tr", {}, ["Part", "Points", "At most", "Why"].map((t, i) => el("th", { scope: "col", class: i === 1 || i === 2 ? "num" : "" }, t)))),
      el("tbody", {}, parts))));
  return {
    panel: panel("Client health", "health-h", csvLink(`/v1/margins/clients/${id}/health`, { as_of: asOf }, "health"), box),
    draw: () => chart(spark, {
      grid: { left: 32, right: 8, top: 8, bottom: 24 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: health.history.map((p) => p.day) },
      yAxis: { type: "value", min: 0, max: 100 },
      series: [{ name: "Health", type: "line", color: "#1f5fbf", data: health.history.map((p) => p.score) }],
    }),
  };
}
