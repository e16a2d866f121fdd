// Alert routing, for admins (docs/alerting.md): the channels (credentials shown masked, as the
// API answers them), the routes, forms to add either, and the latest deliveries.
import { api } from "../api.js";
import { alertWords } from "../schema.js";
import { el as h } from "../dom.js";
import { dateTime } from "../format.js";
import { latestOnly, problem } from "../components.js";

export const title = "Alert routing";

const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

function field(label, input, hint) {
  return h("label", { class: "am-field" }, h("span", {}, label), input,
    hint ? h("small", { class: "muted small" }, hint) : null);
}

function checkboxes(name, values) {
  return h("fieldset", { class: "am-checks" }, h("legend", {}, name),
    values.map((v) => h("label", {}, h("input", { type: "checkbox", name, value: v }), ` ${v}`)));
}

function checked(form, name) {
  return [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
}

function matchText(m) {
  const parts = Object.entries(m).filter(([, v]) => v.length).map(([k, v]) => `${k}: ${v.join(", ")}`);
  return parts.length ? parts.join("; ") : "every alert";
}

const removeButton = (what, name, onclick) => h("button", { type: "button", class: "btn btn-small",
  "aria-label": `Remove ${what} ${name}`, onclick }, "Remove");

function channelRow(ch, remove) {
  return h("tr", { "data-channel": ch.name },
    h("td", {}, ch.name), h("td", {}, ch.kind),
    h("td", { class: "mono" }, ch.url || (ch.to || []).join(", ")),
    h("td", { class: "mono" }, ch.smtp_url || "—"),
    h("td", {}, removeButton("channel", ch.name, () => remove(`/v1/alert-channels/${ch.channel_id}`))));
}

function routeRow(rt, remove) {
  return h("tr", { "data-route": rt.name },
    h("td", {}, rt.name), h("td", {}, rt.channel), h("td", {}, matchText(rt.match)),
    h("td", {}, rt.repeat_interval_s ? `every ${rt.repeat_interval_s} s while open` : "—"),
    h("td", {}, rt.quiet_hours ? `${rt.quiet_hours.start}–${rt.quiet_hours.end} ${rt.quiet_hours.timezone}` : "—"),
    h("td", {}, rt.digest_at ? `daily at ${rt.digest_at} ${rt.timezone}` : "each alert"),
    h("td", {}, removeButton("route", rt.name, () => remove(`/v1/alert-routes/${rt.route_id}`))));
}

function deliveryRow(x) {
  return h("tr", {},
    h("td", {}, dateTime(x.created_at)), h("td", {}, x.route), h("td", {}, `${x.channel} (${x.channel_kind})`),
    h("td", { class: "mono" }, x.alert_id.slice(0, 12)), h("td", {}, x.kind),
    h("td", {}, x.status), h("td", { class: "num" }, String(x.tries)),
    h("td", {}, x.last_error || "—"));
}

function channelForm(kinds, send) {
  return h("form", { class: "am-form", "aria-label": "Add a channel", onsubmit: (e) => {
    e.preventDefault();
    const f = e.target;
    const body = { name: f.name.value, kind: f.kind.value };
    if (body.kind === "email") {
      body.to = list(f.to.value);
      if (f.smtp_url.value) body.smtp_url = f.smtp_url.value;
    } else body.url = f.url.value;
    send("POST", "/v1/alert-channels", body, f);
  } },
  h("h3", {}, "Add a channel"),
  field("Name", h("input", { name: "name", required: true, autocomplete: "off" })),
  field("Kind", h("select", { name: "kind" }, kinds.map((k) => h("option", { value: k }, k)))),
  field("URL", h("input", { name: "url", type: "password", autocomplete: "off" }),
    "Slack, Teams, webhook or Alertmanager: a credential, shown masked once saved"),
  field("E-mail to", h("input", { name: "to", autocomplete: "off" }), "addresses, separated by commas"),
  field("SMTP server", h("input", { name: "smtp_url", type: "password", autocomplete: "off" }),
    "optional: smtp://user:password@host:587"),
  h("button", { type: "submit", class: "btn btn-primary" }, "Add channel"));
}

function routeForm(vocabulary, channelSelect, send) {
  return h("form", { class: "am-form", "aria-label": "Add a route", onsubmit: (e) => {
    e.preventDefault();
    const f = e.target;
    const body = { name: f.name.value, channel: f.channel.value, match: {
      severities: checked(f, "severities"), rules: checked(f, "rules"),
      client_ids: list(f.client_ids.value), account_manager_ids: list(f.account_manager_ids.value),
    } };
    if (f.repeat.value) body.repeat_interval_s = Number(f.repeat.value);
    if (f.quiet_start.value && f.quiet_end.value) {
      body.quiet_hours = { start: f.quiet_start.value, end: f.quiet_end.value, timezone: f.timezone.value || "UTC" };
    }
    send("POST", "/v1/alert-routes", body, f);
  } },
  h("h3", {}, "Add a route"),
  field("Name", h("input", { name: "name", required: true, autocomplete: "off" })),
  field("Channel", channelSelect),
  checkboxes("severities", vocabulary.severities),
  checkboxes("rules", vocabulary.rules),
  field("Clients", h("input", { name: "client_ids", autocomplete: "off" }), "client ids, separated by commas; empty: every client"),
  field("Account managers", h("input", { name: "account_manager_ids", autocomplete: "off" }), "ids, separated by commas"),
  field("Repeat every (s)", h("input", { name: "repeat", type: "number", min: "1" }), "while the alert is open"),
  field("Quiet from", h("input", { name: "quiet_start", type: "time" })),
  field("Quiet until", h("input", { name: "quiet_end", type: "time" })),
  field("Time zone", h("input", { name: "timezone", placeholder: "UTC", autocomplete: "off" })),
  h("button", { type: "submit", class: "btn btn-primary" }, "Add route"));
}

const table = (caption, heads, body) => h("div", { class: "table-wrap framed" },
  h("table", { class: "am-table" }, h("caption", {}, caption),
    h("thead", {}, h("tr", {}, heads.map((x) => h("th", { scope: "col" }, x)))), body));

function section(id, heading, ...body) {
  return h("section", { "aria-labelledby": id }, h("h2", { id }, heading), ...body);
}

export async function render(root, params, ctx) {
  if (ctx.session.role !== "admin") {
    root.replaceChildren(h("h1", {}, "Alert routing"),
      problem(403, "Only an admin manages alert routing."));
    return;
  }
  const vocabulary = await alertWords();
  const message = h("p", { class: "form-error", role: "alert", id: "routing-message" });
  const [channelsBody, routesBody, deliveriesBody] = [h("tbody", {}), h("tbody", {}), h("tbody", {})];
  const channelSelect = h("select", { name: "channel", required: true });

  // Two changes in a row (a route, then another) each load the lists again: only the latest
  // load paints, so the first one's answer, read before the second route was added, cannot
  // hide it.
  const latest = latestOnly(() => [channelsBody, routesBody, deliveriesBody]);
  async function load() {
    const answer = await latest(() => Promise.all([
      api.get("/v1/alert-channels"), api.get("/v1/alert-routes"), api.get("/v1/alert-deliveries", { limit: 20 }),
    ]));
    if (!answer.latest) return;
    const [c, r, d] = answer.value;
    channelsBody.replaceChildren(...c.channels.map((ch) => channelRow(ch, remove)));
    channelSelect.replaceChildren(...c.channels.map((ch) => h("option", { value: ch.name }, ch.name)));
    routesBody.replaceChildren(...r.routes.map((rt) => routeRow(rt, remove)));
    deliveriesBody.replaceChildren(...d.deliveries.map(deliveryRow));
  }

  async function send(method, path, body, form) {
    message.textContent = "";
    const r = await api.answer(method, path, body);
    if (!r.ok) {
      message.textContent = r.message;
      return;
    }
    if (form) form.reset();
    await load();
  }
  const remove = (path) => send("DELETE", path);

  await load();
  root.replaceChildren(
    h("h1", {}, "Alert routing"),
    message,
    section("channels-h", "Channels",
      table("Where alerts go (credentials masked)", ["Name", "Kind", "Where", "SMTP server", ""], channelsBody)),
    section("routes-h", "Routes",
      table("Which alerts go where, and when", ["Name", "Channel", "Alerts", "Repeat", "Quiet hours", "Sent", ""], routesBody)),
    h("div", { class: "am-forms" }, channelForm(vocabulary.channel_kinds, send), routeForm(vocabulary, channelSelect, send)),
    section("deliveries-h", "Latest deliveries",
      table("Each delivery: when, where, outcome, tries", ["Queued", "Route", "Channel", "Alert", "Kind", "Status", "Tries", "Last error"], deliveriesBody)),
  );
}
