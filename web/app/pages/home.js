// "/": where each role starts: finance and admin on the portfolio, account managers on their
// contracts (when that page is registered; else their own portfolio).
import { routes } from "./index.js";

export async function render(root, params, ctx) {
  const am = ctx.session.role === "account_manager" && "/app/contracts" in routes;
  ctx.navigate(am ? "/app/contracts" : "/app/finance", { replace: true });
}
