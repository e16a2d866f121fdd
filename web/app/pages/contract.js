// Finance: one contract: its terms, roll-up, the per-assignment grid, its log in words, alerts.
import { api } from "../api.js";
import { nameOf } from "../people.js";
import { el } from "../dom.js";
import { today } from "../format.js";
import { crumbs, asOfPicker, panel, csvLink } from "../components.js";
import { assignmentGrid, timeline, alertsList, rollUpCards } from "./finance-parts.js";

export const title = "Contract";

export async function render(root, { contract_id }, ctx) {
  const asOf = ctx.query.get("as_of") || today();
  const id = encodeURIComponent(contract_id);
  const [c, log, alerts] = await Promise.all([
    api.get(`/v1/margins/contracts/${id}`, { as_of: asOf }),
    timeline(contract_id),
    alertsList(contract_id),
  ]);
  document.title = `${contract_id} · Markup Ledger`;
  root.replaceChildren(
    crumbs([["Portfolio", `/app/finance?as_of=${asOf}`],
      [c.client_name, `/app/finance/clients/${encodeURIComponent(c.client_id)}?as_of=${asOf}`],
      [contract_id, location.pathname]]),
    el("div", { class: "page-head" },
      el("div", {}, el("h1", {}, `Contract ${contract_id}`),
        el("div", { class: "sub" }, `${c.client_name} · managed by ${nameOf(c.account_manager_id)} · ${c.status} · ` +
          `${c.min_assignment_weeks ? `${c.min_assignment_weeks}-week commitment` : "no commitment"} · log v${c.stream_version} · figures as of ${asOf}`)),
      asOfPicker(asOf, (d) => ctx.setQuery({ as_of: d }))),
    rollUpCards(c, ["weekly_gross_profit", "margin_pct", "markup_pct", "markup_floor_pct",
      "remaining_gross_profit", "at_risk_weekly_gross_profit"]),
    panel("Assignments", "assignments-h", csvLink(`/v1/margins/contracts/${id}`, { as_of: asOf }, "assignments"),
      assignmentGrid(c.assignments, asOf)),
    el("div", { class: "grid2" },
      panel("Event timeline", "timeline-h", null, log),
      panel("Alerts", "alerts-h", null, alerts)),
  );
}
