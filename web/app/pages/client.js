// Finance: one client's contracts with their roll-ups, as of a date.
import { api } from "../api.js";
import { nameOf } from "../people.js";
import { el } from "../dom.js";
import { today } from "../format.js";
import { crumbs, asOfPicker, panel, csvLink, moneyCell, pctCell, numCell } from "../components.js";
import { rollUpCards } from "./finance-parts.js";

export const title = "Client";

export async function render(root, { client_id }, ctx) {
  const asOf = ctx.query.get("as_of") || today();
  const c = await api.get(`/v1/margins/clients/${encodeURIComponent(client_id)}`, { as_of: asOf, limit: 1000 });
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
  root.replaceChildren(
    crumbs([["Portfolio", `/app/finance?as_of=${asOf}`], [name, location.pathname]]),
    el("div", { class: "page-head" },
      el("div", {}, el("h1", {}, name), el("div", { class: "sub" }, `Client ${client_id} · figures as of ${asOf}`)),
      asOfPicker(asOf, (d) => ctx.setQuery({ as_of: d }))),
    rollUpCards(c, ["weekly_gross_profit", "margin_pct", "markup_pct", "remaining_gross_profit",
      "at_risk_weekly_gross_profit", "loss_making_assignments"]),
    panel("Contracts", "contracts-h", csvLink(`/v1/margins/clients/${encodeURIComponent(client_id)}`, { as_of: asOf, limit: 1000 }, "contracts"),
      el("div", { class: "table-wrap", tabindex: "0" }, el("table", { id: "contracts" },
        el("caption", {}, `${c.contracts_count} contract(s) with assignments`),
        el("thead", {}, el("tr", {}, heads.map((h, i) => el("th", { scope: "col", class: i >= 2 ? "num" : "" }, h)))),
        el("tbody", {}, rows)))),
  );
}
