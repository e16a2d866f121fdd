/* app.js: the shell. A tiny router over location.pathname (History API) for "/" and "/app/...":
 * it finds the page in pages/index.js, checks the session (else shows the sign-in form at
 * /app/sign-in?next=...), and calls the page's render(root, params, ctx). Links marked
 * `data-nav` (and any same-origin link to /app/...) navigate without a reload.
 */
import { api, setCsrf, ApiError } from "./api.js";
import { routes } from "./pages/index.js";
import { el, clear } from "./dom.js";
import { scrollHints } from "./components.js";
import { loadPeople } from "./people.js";

const main = document.getElementById("main");
let session = null;
let renderSeq = 0;

function compile(pattern) {
  const names = [];
  const rx = pattern.replace(/\/:([A-Za-z_]+)/g, (_, n) => {
    names.push(n);
    return "/([^/]+)";
  });
  return { rx: new RegExp(`^${rx}/?$`), names };
}
const table = Object.entries(routes).map(([pattern, load]) => ({ ...compile(pattern), load }));

function match(path) {
  for (const r of table) {
    const m = r.rx.exec(path);
    if (m) {
      const params = {};
      r.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1])));
      return { load: r.load, params };
    }
  }
  return null;
}

/** `next` as a path of this origin, else "/": `//evil.example` starts with a slash too, and a
 * history entry of another origin threw a SecurityError on the sign-in form (issue #21). */
export function sameOriginPath(next) {
  try {
    const u = new URL(next, location.origin);
    return u.origin === location.origin ? u.pathname + u.search + u.hash : "/";
  } catch {
    return "/";
  }
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  route();
}

/** Changes query parameters of the current page (null removes one) and renders again. */
function setQuery(changes, { replace = false } = {}) {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === "") q.delete(k);
    else q.set(k, String(v));
  }
  const s = q.toString();
  navigate(location.pathname + (s ? `?${s}` : ""), { replace });
}

function markNav() {
  for (const a of document.querySelectorAll("nav a[data-section]")) {
    const on = location.pathname.startsWith(a.dataset.section);
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

function showUser() {
  const box = document.getElementById("user");
  box.hidden = !session;
  // The Import page is an admin's alone.
  document.getElementById("nav-imports").hidden = !(session && session.role === "admin");
  if (session) {
    const role = { account_manager: "account manager", finance: "finance", admin: "admin" }[session.role] || session.role;
    const who = session.name
      ? `${session.name} (${role})`
      : session.account_manager_id ? `${session.account_manager_id} (account manager)` : session.role;
    document.getElementById("user-name").textContent = `Signed in as ${who}`;
  }
}

const MARKER = "ledger_signed_in";
const hasMarker = () => document.cookie.split("; ").some((c) => c.startsWith(`${MARKER}=`));
const dropMarker = () => (document.cookie = `${MARKER}=; Max-Age=0; path=/; SameSite=Strict`);

async function loadSession() {
  // Without the marker cookie there is no session to ask about (and no 401 to log).
  if (!hasMarker()) {
    session = null;
    showUser();
    return;
  }
  try {
    session = await api.get("/v1/session");
    setCsrf(session.csrf_token);
    await loadPeople();
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) throw e;
    session = null;
    dropMarker();
  }
  showUser();
}

async function signInOptions() {
  try {
    return await api.get("/v1/sign-in");
  } catch {
    return { single_sign_on: false };
  }
}

async function signInPage(seq) {
  document.title = "Sign in · Markup Ledger";
  clear(main);
  document.body.dataset.state = "loading"; // not the page before's "ready" meanwhile
  const next = new URLSearchParams(location.search).get("next") || "/";
  const options = await signInOptions();
  if (seq !== renderSeq) return; // another page was asked for meanwhile: it paints, not this
  const err = el("p", { class: "form-error", id: "token-error", role: "alert" });
  const input = el("input", {
    id: "token", name: "token", type: "password", autocomplete: "off", required: true,
    "aria-describedby": "token-help token-error", spellcheck: "false",
  });
  const sso = options.single_sign_on
    ? [el("p", { class: "muted" }, "Sign in with the account you use for your company's email."),
      el("a", { class: "btn btn-primary sso", href: `${options.url}?next=${encodeURIComponent(next)}` },
        "Sign in with your company account"),
      el("h2", { class: "signin-or" }, "Or with an API token")]
    : [];
  const form = el("form", { class: "card signin", novalidate: true },
    el("h1", {}, "Sign in"),
    ...sso,
    el("p", { id: "token-help", class: "muted" },
      "Paste the API token an administrator gave you. It is sent once; the browser keeps a ",
      "session cookie, not the token."),
    el("label", { for: "token" }, "API token"),
    input, err,
    el("button", { type: "submit", class: options.single_sign_on ? "btn" : "btn btn-primary" }, "Sign in"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    try {
      session = await api.post("/v1/session", { token: input.value.trim() });
      setCsrf(session.csrf_token);
      await loadPeople();
      showUser();
      navigate(sameOriginPath(next), { replace: true });
    } catch (e) {
      err.textContent = e instanceof ApiError ? e.message : String(e);
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  });
  main.append(form);
  document.body.dataset.state = "ready";
  if (!options.single_sign_on) input.focus();
}

async function route() {
  const seq = ++renderSeq;
  markNav();
  const path = location.pathname;
  if (path === "/app/sign-in") {
    if (session) return navigate("/", { replace: true });
    return signInPage(seq);
  }
  if (!session) {
    return navigate(`/app/sign-in?next=${encodeURIComponent(path + location.search)}`, {
      replace: true,
    });
  }
  const found = match(path);
  clear(main);
  if (!found) {
    document.title = "Not found · Markup Ledger";
    document.body.dataset.state = "ready";
    main.append(el("h1", {}, "Page not found"),
      el("p", {}, "There is no page at ", el("code", {}, path), ". ",
        el("a", { href: "/", "data-nav": true }, "Go to the start page"), "."));
    return;
  }
  // The page renders into `root`, already in the document (charts need their size); it
  // shows "Loading…" until the page replaces its children. body[data-state] is "loading",
  // then "ready" once render() has resolved (content loaded, charts drawn) or "error".
  const root = el("div", { class: "page", "aria-busy": "true" }, el("p", { class: "muted" }, "Loading…"));
  main.append(root);
  document.body.dataset.state = "loading";
  try {
    const mod = await found.load();
    if (seq !== renderSeq) return;
    document.title = `${mod.title || "Markup Ledger"} · Markup Ledger`;
    const ctx = { session, query: new URLSearchParams(location.search), navigate, setQuery };
    await mod.render(root, found.params, ctx);
    if (seq !== renderSeq) return;
    scrollHints(root);
    root.removeAttribute("aria-busy");
    document.body.dataset.state = "ready";
  } catch (e) {
    if (seq !== renderSeq) return;
    clear(main);
    document.body.dataset.state = "error";
    const status = e instanceof ApiError ? e.status : null;
    main.append(el("h1", {}, status === 403 ? "Not yours to see" : status === 404 ? "Not found" : "Something went wrong"),
      el("p", { class: "form-error", role: "alert" }, e instanceof ApiError ? e.message : String(e)));
    if (!(e instanceof ApiError)) console.warn(e);
  }
}

document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a");
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
  if (a.hasAttribute("download") || a.target) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  if (!(a.hasAttribute("data-nav") || url.pathname === "/" || url.pathname.startsWith("/app/"))) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
});

document.getElementById("sign-out").addEventListener("click", async () => {
  try {
    await api.del("/v1/session");
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) throw e;
  }
  session = null;
  setCsrf("");
  dropMarker();
  showUser();
  navigate("/app/sign-in", { replace: true });
});

window.addEventListener("ledger:signed-out", () => {
  if (!session) return;
  session = null;
  setCsrf("");
  dropMarker();
  showUser();
  navigate(`/app/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
});
window.addEventListener("popstate", route);

await loadSession();
await route();
