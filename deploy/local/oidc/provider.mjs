// A real, standalone OpenID provider for the test run and a local stack: the OpenID Certified
// `oidc-provider` package (npm, pinned by this folder's package-lock.json), on loopback.
// It is NOT for production: users and passwords come from a JSON file.
//
//   node deploy/local/oidc/provider.mjs
//
// Environment:
//   OIDC_PORT            port on 127.0.0.1 (default 19400); the issuer is http://127.0.0.1:PORT
//   OIDC_ISSUER          another issuer URL (a proxy in front of this port, as in a test of an
//                        attacker between the app and the provider)
//   OIDC_USERS_FILE      users: {"login": {"sub", "password", "name", "email", "groups"?}}; read
//                        at every sign-in, so a test can take a person out of a group
//                        (default: users.json beside this script)
//   OIDC_JWKS_FILE       the private signing keys as a JWK Set (default: a fresh RSA key)
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET   the Markup Ledger client (default ledger / ledger-secret)
//
// A second client, `other-app`, exists so that a test can hold a token issued to someone else.
// Clients are "native": any loopback port is accepted in their redirect URI (RFC 8252), so API
// processes on ephemeral ports can all use the one provider.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateKeyPair, exportJWK } from "jose";
import Provider from "oidc-provider";

const here = dirname(fileURLToPath(import.meta.url));
const port = Number(process.env.OIDC_PORT || 19400);
const issuer = process.env.OIDC_ISSUER || `http://127.0.0.1:${port}`;
const usersFile = process.env.OIDC_USERS_FILE || join(here, "users.json");
const clientId = process.env.OIDC_CLIENT_ID || "ledger";
const clientSecret = process.env.OIDC_CLIENT_SECRET || "ledger-secret";

async function signingKeys() {
  if (process.env.OIDC_JWKS_FILE) return JSON.parse(readFileSync(process.env.OIDC_JWKS_FILE, "utf8"));
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  return { keys: [{ ...(await exportJWK(privateKey)), kid: "local-1", alg: "RS256", use: "sig" }] };
}

const users = () => JSON.parse(readFileSync(usersFile, "utf8"));
const bySub = (sub) => Object.values(users()).find((u) => u.sub === sub);

const html = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>${html(title)}</title><link rel="icon" href="data:,"><style>
body{font:16px system-ui,sans-serif;background:#eef1f5;margin:0;display:grid;place-items:center;min-height:100vh}
main{background:#fff;padding:2rem 2.5rem;border-radius:8px;box-shadow:0 2px 10px #0002;min-width:20rem}
h1{font-size:1.3rem;margin:0 0 .3rem}p.who{color:#555;margin:0 0 1.2rem}label{display:block;margin:.8rem 0 .2rem}
input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}button{margin-top:1.2rem;padding:.6rem 1.2rem;font-size:1rem}
.error{color:#a40000}</style></head><body><main>${body}</main></body></html>`;

function loginForm(uid, clientName, error = "") {
  return page("Sign in: Local identity provider", `<h1>Local identity provider</h1>
<p class="who">Sign in to continue to ${html(clientName)}</p>
${error ? `<p class="error" role="alert">${html(error)}</p>` : ""}
<form method="post" action="/interaction/${html(uid)}/login" autocomplete="off">
<label for="login">Username</label><input id="login" name="login" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in</button></form>`);
}

const provider = new Provider(issuer, {
  clients: [
    { client_id: clientId, client_secret: clientSecret, client_name: "Markup Ledger" },
    { client_id: "other-app", client_secret: "other-secret", client_name: "Another app" },
  ].map((c) => ({
    ...c,
    application_type: "native",
    redirect_uris: ["http://127.0.0.1/auth/callback", "http://localhost/auth/callback"],
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
  })),
  jwks: await signingKeys(),
  pkce: { required: () => true },
  // The claims go into the ID token itself (as Entra ID and Okta put groups there), so the
  // app needs no userinfo call.
  conformIdTokenClaims: false,
  claims: { openid: ["sub"], profile: ["name"], email: ["email", "email_verified"], groups: ["groups"] },
  scopes: ["openid", "profile", "email", "groups"],
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ["local-test-provider-cookie-key"] },
  ttl: { IdToken: 600, AccessToken: 600, Session: 3600, Interaction: 600, Grant: 3600 },
  async findAccount(ctx, sub) {
    const user = bySub(sub);
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        const now = bySub(sub) || user; // the file as it is at this sign-in
        const claims = { sub, name: now.name, email: now.email, email_verified: true };
        if (now.groups !== undefined) claims.groups = now.groups;
        return claims;
      },
    };
  },
});
provider.proxy = false;

async function readForm(req) {
  let body = "";
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) throw new Error("body too large");
  }
  return new URLSearchParams(body);
}

const callback = provider.callback();
const server = createServer(async (req, res) => {
  const m = /^\/interaction\/([\w-]+)(\/login)?$/.exec(req.url.split("?")[0]);
  if (!m) return callback(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    const client = await provider.Client.find(details.params.client_id);
    const clientName = client?.clientName || details.params.client_id;
    res.setHeader("Cache-Control", "no-store");
    if (details.prompt.name === "consent") {
      // First-party: what the client asks for is granted without a consent screen (the
      // provider asks native clients every time, RFC 8252 §8.6).
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      const missing = details.prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      const grantId = await grant.save();
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    if (req.method === "GET" && !m[2]) {
      res.setHeader("Content-Type", "text/html; charset=utf-8");
      return res.end(loginForm(details.uid, clientName));
    }
    if (req.method === "POST" && m[2]) {
      const form = await readForm(req);
      const user = users()[form.get("login") || ""];
      if (!user || user.password !== form.get("password")) {
        res.statusCode = 401;
        res.setHeader("Content-Type", "text/html; charset=utf-8");
        return res.end(loginForm(details.uid, clientName, "Wrong username or password."));
      }
      return provider.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
    }
    res.statusCode = 405;
    return res.end();
  } catch (err) {
    res.statusCode = 400;
    res.setHeader("Content-Type", "text/plain; charset=utf-8");
    return res.end(`interaction failed: ${err.message}`);
  }
});
server.listen(port, "127.0.0.1", () => console.log(`oidc-provider ${issuer} listening on 127.0.0.1:${port}`));
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections(); // keep-alive connections would hold the close open
  });
}
