// "/": where each role starts: finance and admin on the portfolio, account managers on their
// contracts.
export async function render(root, params, ctx) {
  const am = ctx.session.role === "account_manager";
  ctx.navigate(am ? "/app/contracts" : "/app/finance", { replace: true });
}
