/* schema.js: the API's own lists, read once a page load and kept: enumerations and rule names
 * come from the API, never copied into the app.
 *   await eventSchemas()  GET /v1/schema/events: the JSON Schema of each event type (forms)
 *   await alertWords()    GET /v1/schema/alerts: {rules, severities, statuses, channel_kinds}
 */
import { api } from "./api.js";

const cache = new Map();

function once(path) {
  if (!cache.has(path)) {
    const p = api.get(path);
    cache.set(path, p);
    p.catch(() => cache.delete(path)); // a failure is asked again next time
  }
  return cache.get(path);
}

export const eventSchemas = () => once("/v1/schema/events");
export const alertWords = () => once("/v1/schema/alerts");
