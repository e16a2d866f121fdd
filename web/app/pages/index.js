/* pages/index.js: the page registry. Each entry maps a path pattern to a lazily imported page
 * module; `:name` segments become params. A page module exports
 *
 *   export async function render(root, params, ctx)
 *     // root: a <div> already in <main>, showing "Loading…" until the page replaces its
 *     // children (root.replaceChildren(...)); resolve once content and charts are drawn
 *   export const title = "Portfolio";                  // optional: the document title
 *
 * ctx = { session: {role, account_manager_id, csrf_token}, query: URLSearchParams,
 *         navigate(path), setQuery(changes) }  (see app.js). To add a page: add its file
 * here under pages/ and one line below. The first pattern that matches wins.
 */
export const routes = {
  "/": () => import("./home.js"),
  "/app/finance": () => import("./portfolio.js"),
  "/app/finance/clients/:client_id": () => import("./client.js"),
  "/app/finance/contracts/:contract_id": () => import("./contract.js"),
  "/app/finance/assignments/:assignment_id": () => import("./assignment.js"),
  "/app/contracts": () => import("./my_contracts.js"),
  "/app/contracts/:id": () => import("./my_contract.js"),
  "/app/events/new": () => import("./event_form.js"),
  "/app/alerts": () => import("./alerts.js"),
  "/app/imports": () => import("./imports.js"),
  "/app/alert-routing": () => import("./alert_routing.js"),
};
