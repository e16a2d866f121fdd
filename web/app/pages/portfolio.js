// Finance: the portfolio (filled in by the finance pages work).
import { api } from "../api.js";
import { el } from "../dom.js";
import { money, pct } from "../format.js";

export const title = "Portfolio";

export async function render(root, params, ctx) {
  const p = await api.get("/v1/margins/portfolio", { limit: 1 });
  root.append(
    el("h1", {}, "Portfolio"),
    el("p", {}, `As of ${p.as_of}: weekly gross profit ${money(p.weekly_gross_profit)}, margin ${pct(p.margin_pct)}.`),
  );
}
