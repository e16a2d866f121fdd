/* api.js: the app's one way to talk to the API (same origin, the session cookie).
 *
 *   import { api, ApiError, csvUrl } from "/static/app/api.js";
 *   const p = await api.get("/v1/margins/portfolio", { as_of: "2026-11-28" }); // parsed JSON
 *   await api.post("/v1/events", body);          // also api.put / api.patch / api.del
 *   const r = await api.answer("POST", "/v1/events", body); // {ok, status, body, message, errors}
 *   <a href={csvUrl("/v1/margins/clients", params)} download>  // GET URL answering CSV
 *
 * Unsafe methods (POST/PUT/PATCH/DELETE) send the X-CSRF-Token header of the session
 * (app.js calls setCsrf after sign-in). A non-2xx answer throws ApiError with `status`,
 * `message`, `errors` ([{field, reason}], from the API's error body) and the raw `body`.
 * A 401 also dispatches the window event "ledger:signed-out" (app.js shows the sign-in page).
 * Every page, finance's and the account managers', talks to the API through this module only.
 */

let csrf = "";

export function setCsrf(token) {
  csrf = token || "";
}

export class ApiError extends Error {
  constructor(status, message, errors, body) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.errors = errors;
    this.body = body;
  }
  /** The reason given for one field, if any (for showing it next to that field). */
  reasonFor(field) {
    const e = this.errors.find((x) => x.field === field);
    return e ? e.reason : null;
  }
}

function withParams(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}${path.includes("?") ? "&" : "?"}${s}` : path;
}

/** A GET URL of a list answering CSV, for links that download with the session cookie. */
export function csvUrl(path, params) {
  return withParams(path, { ...(params || {}), format: "csv" });
}

/** The API's one error body, {"errors": [{"field", "reason"}], "message"}, as an ApiError; an
 * answer that is not that (a proxy's HTML page) says its HTTP status. */
function errorOf(status, body) {
  const errors = body && Array.isArray(body.errors) ? body.errors : [];
  let message = `HTTP ${status}`;
  if (body && typeof body.message === "string" && body.message) message = body.message;
  else if (errors.length) message = errors.map((e) => `${e.field}: ${e.reason}`).join("; ");
  return new ApiError(status, message, errors, body);
}

async function request(method, path, { params, body, accept = "application/json" } = {}) {
  const headers = { Accept: accept };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrf;
  const r = await fetch(withParams(path, params), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const text = await r.text();
  let parsed = text;
  if ((r.headers.get("content-type") || "").includes("json") && text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text; // a broken answer is an error to show, not a crash of the page
    }
  }
  if (!r.ok) {
    if (r.status === 401 && path !== "/v1/session") {
      window.dispatchEvent(new CustomEvent("ledger:signed-out"));
    }
    throw errorOf(r.status, parsed);
  }
  return parsed;
}

export const api = {
  get: (path, params) => request("GET", path, { params }),
  post: (path, body, params) => request("POST", path, { body, params }),
  put: (path, body, params) => request("PUT", path, { body, params }),
  patch: (path, body, params) => request("PATCH", path, { body, params }),
  del: (path, params) => request("DELETE", path, { params }),
  /** The raw text of a GET (e.g. CSV with accept "text/csv"). */
  text: (path, params, accept = "text/csv") => request("GET", path, { params, accept }),
  /** The same request, answered as {ok, status, body, message, errors} instead of thrown: for
   * an answer that is shown, not a failure (an event's refusal, a form's field errors). */
  answer: (method, path, body) =>
    request(method, path, { body }).then(
      (parsed) => ({ ok: true, status: 200, body: parsed, message: "", errors: [] }),
      (e) => {
        if (!(e instanceof ApiError)) throw e;
        return { ok: false, status: e.status, body: e.body, message: e.message, errors: e.errors };
      },
    ),
};

/** What went wrong, in words, for a page to show: the API's message, or the error itself. */
export function errorMessage(e) {
  return e instanceof ApiError ? e.message : String(e && e.message ? e.message : e);
}
