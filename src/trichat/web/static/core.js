// Shared by the page's modules: the state, DOM helpers, REST and the socket's send.
export const API = "/api/v1/chat";
export const EMOJI = ["👍", "❤️", "😂", "🎉", "😮"];   // the quick reactions
export const $ = (id) => document.getElementById(id);
export const state = {
  token: null, me: null, ws: null, backoff: 500, current: null,
  channels: new Map(),   // id -> channel from REST
  joined: new Map(),     // id -> the channel's log as the page holds it (log.js newChannel)
  thread: null,          // seq of the root whose thread is open in the current channel
  editing: null,         // {seq, draft}: the message being edited
  picker: null,          // seq of the message whose emoji picker is open
  confirming: null,      // seq of the message asking "delete it?"
  reads: new Map(),      // id -> the caller's read state there (log.js readOf)
  divider: null,         // {id, after, pending}: the "new messages" line of the channel open
};

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;   // text, never HTML
  return e;
}
export function button(text, label, onclick, cls = "quiet") {
  const b = el("button", cls, text);
  b.type = "button";
  if (label) b.setAttribute("aria-label", label);
  b.onclick = onclick;
  return b;
}
export function time(ts) { const d = new Date(ts); return isNaN(d) ? "" : d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"}); }
export function showError(text) { const e = el("div", null, text); $("errors").appendChild(e); setTimeout(() => e.remove(), 6000); }
export function newId() { return (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/-/g, "").slice(0, 32); }

export async function api(path, opts = {}) {
  const r = await fetch(API + path, {...opts, headers: {"Content-Type": "application/json", "Authorization": "Bearer " + state.token, ...(opts.headers || {})}});
  const body = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) throw new Error(body && body.error ? body.error.message : "HTTP " + r.status);
  return body;
}

/** Send a frame if the socket is open; false (and nothing sent) otherwise. */
export function sendFrame(frame) {
  if (!state.ws || state.ws.readyState !== 1) return false;
  state.ws.send(JSON.stringify(frame));
  return true;
}
/** A change to the log (edit, delete, react, unreact): sent now or refused, not queued. */
export function sendChange(frame) {
  if (!sendFrame({...frame, channel_id: state.current, message_id: newId()})) showError("offline: try again once reconnected");
}
