"use strict";
// the server sets data-dev="true" on <html> when it runs with --dev
const DEV = document.documentElement.dataset.dev === "true";
const API = "/api/v1/chat";
const $ = (id) => document.getElementById(id);
const state = {
  token: null, me: null, ws: null, backoff: 500, current: null,
  channels: new Map(),   // id -> channel from REST
  joined: new Map(),     // id -> {lastSeq, msgs: Map seq->msg, pending: Map message_id->text, who: Map user->name, typing: Map user->{name, until}, unread, oldest}
};

function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
function claims(token) { try { return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))); } catch { return null; } }
function time(ts) { const d = new Date(ts); return isNaN(d) ? "" : d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"}); }
function showError(text) { const e = el("div", null, text); $("errors").appendChild(e); setTimeout(() => e.remove(), 6000); }
async function api(path, opts = {}) {
  const r = await fetch(API + path, {...opts, headers: {"Content-Type": "application/json", "Authorization": "Bearer " + state.token, ...(opts.headers || {})}});
  const body = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) throw new Error(body && body.error ? body.error.message : "HTTP " + r.status);
  return body;
}

// ---- sign in ----
if (DEV) $("devsignin").hidden = false;
$("devgo").onclick = async () => {
  const name = $("devname").value.trim();
  if (!name) return;
  const r = await fetch(API + "/dev/token", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({user: name})});
  const body = await r.json();
  if (!r.ok) { $("signinerr").textContent = body.error.message; return; }
  start(body.token);
};
$("devname").onkeydown = (e) => { if (e.key === "Enter") $("devgo").click(); };
$("tokengo").onclick = () => { const t = $("tokenin").value.trim(); if (t) start(t); };

async function start(token) {
  const c = claims(token);
  if (!c || !c.sub) { $("signinerr").textContent = "That does not look like a JWT."; return; }
  state.token = token; state.me = c.sub;
  try { await loadChannels(); } catch (err) { $("signinerr").textContent = err.message; return; }
  $("signin").hidden = true; $("app").classList.add("on");
  $("me").textContent = "signed in as " + (c.username || c.sub);
  connect();
}

// ---- channels ----
async function loadChannels() {   // every page: the server returns at most 100 at a time
  const all = new Map();
  for (let offset = 0; ;) {
    const page = await api(`/channels?limit=100&offset=${offset}`);
    for (const c of page.channels) all.set(c.id, c);
    offset += page.channels.length;
    if (page.channels.length === 0 || offset >= page.total) break;
  }
  state.channels = all;
  renderChannels();
}
function renderChannels() {
  const list = $("chanlist"); list.textContent = "";
  for (const c of state.channels.values()) {
    const row = el("div", "chan" + (state.joined.has(c.id) ? " joined" : "") + (c.id === state.current ? " current" : ""));
    row.dataset.id = c.id;
    row.appendChild(el("span", "dot"));
    row.appendChild(el("span", null, (c.channel_type === "private" ? "🔒 " : "# ") + c.name));
    const j = state.joined.get(c.id);
    if (j && j.unread) row.appendChild(el("span", "unread", String(j.unread)));
    row.onclick = () => openChannel(c.id);
    list.appendChild(row);
  }
}
$("newchan").onsubmit = async (e) => {
  e.preventDefault();
  const name = $("newname").value.trim(); if (!name) return;
  try { const c = await api("/channels", {method: "POST", body: JSON.stringify({name})}); $("newname").value = ""; state.channels.set(c.id, c); openChannel(c.id); }
  catch (err) { showError(err.message); }
};

function openChannel(id) {
  state.current = id;
  if (!state.joined.has(id)) {
    state.joined.set(id, {lastSeq: null, msgs: new Map(), pending: new Map(), who: new Map(), typing: new Map(), unread: 0, oldest: null, done: false});
    sendFrame({type: "join", channel_id: id});
  }
  state.joined.get(id).unread = 0;
  const c = state.channels.get(id);
  $("channame").textContent = c ? "# " + c.name : id; $("chandesc").textContent = c ? c.description : "";
  $("leave").hidden = false; $("text").disabled = false; $("send").disabled = false; $("text").focus();
  renderChannels(); renderLog(); renderWho(); renderTyping();
}
$("leave").onclick = () => {
  const id = state.current; if (!id) return;
  sendFrame({type: "leave", channel_id: id}); state.joined.delete(id); state.current = null;
  $("log").textContent = ""; $("log").appendChild(el("div", "empty", "Pick a channel on the left."));
  $("leave").hidden = true; $("text").disabled = true; $("send").disabled = true; $("channame").textContent = ""; $("chandesc").textContent = "";
  renderChannels(); renderWho();
};

// ---- rendering ----
function msgNode(m, pending) {
  const row = el("div", "msg" + (pending ? " pending" : "") + (m.kind === "system" ? " system" : ""));
  row.dataset.seq = m.seq || ""; row.dataset.mid = m.message_id;
  row.appendChild(el("span", "meta", pending ? "" : time(m.timestamp)));
  const body = el("div");
  body.appendChild(el("span", "author", m.display_name || m.username || m.user_id));
  body.appendChild(el("span", "body", m.content));   // text, never HTML
  row.appendChild(body);
  return row;
}
function renderLog() {
  const j = state.joined.get(state.current); const log = $("log"); log.textContent = "";
  if (!j) return;
  if (!j.done && j.oldest !== null && j.oldest > 1) { const b = el("button", "quiet", "Load older messages"); b.id = "older"; b.onclick = loadOlder; log.appendChild(b); }
  const seqs = [...j.msgs.keys()].sort((a, b) => a - b);
  for (const s of seqs) log.appendChild(msgNode(j.msgs.get(s), false));
  for (const [mid, text] of j.pending) log.appendChild(msgNode({message_id: mid, content: text, user_id: state.me, username: state.me}, true));
  log.scrollTop = log.scrollHeight;
}
function renderWho() {
  const who = $("who"); who.textContent = "";
  const j = state.joined.get(state.current); if (!j) return;
  for (const name of [...j.who.values()].sort()) who.appendChild(el("div", "who", name));
}
function renderTyping() {
  const j = state.joined.get(state.current); const now = Date.now();
  const names = j ? [...j.typing.values()].filter((t) => t.until > now).map((t) => t.name) : [];
  $("typing").textContent = names.length === 0 ? "" : names.join(", ") + (names.length === 1 ? " is typing…" : " are typing…");
}
setInterval(renderTyping, 500);

async function loadOlder() {
  const id = state.current; const j = state.joined.get(id); if (!j || j.oldest === null) return;
  try {
    const page = await api(`/channels/${id}/messages?limit=50&before=${j.oldest}`);
    for (const m of page.messages) j.msgs.set(m.seq, m);
    if (page.messages.length) j.oldest = page.messages[0].seq;
    if (page.next_cursor === null) j.done = true;
    const log = $("log"); const before = log.scrollHeight; renderLog(); log.scrollTop = log.scrollHeight - before;
  } catch (err) { showError(err.message); }
}
async function loadPresence(id) {
  try { const p = await api(`/channels/${id}/presence`); const j = state.joined.get(id); if (!j) return;
    j.who = new Map(p.users.map((u) => [u.user_id, u.username])); if (id === state.current) renderWho(); } catch {}
}

// ---- the socket ----
function sendFrame(frame) { if (state.ws && state.ws.readyState === 1) state.ws.send(JSON.stringify(frame)); }
function setStatus(text, cls) { $("status").textContent = text; $("status").className = cls; }
function connect() {
  setStatus("connecting…", "");
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws?token=${encodeURIComponent(state.token)}`);
  state.ws = ws;
  ws.onopen = () => {
    state.backoff = 500; setStatus("online", "online");
    for (const [id, j] of state.joined) {   // rejoin with since: no gaps, no duplicates
      const f = {type: "join", channel_id: id}; if (j.lastSeq !== null) f.since = j.lastSeq; ws.send(JSON.stringify(f));
    }
  };
  ws.onmessage = (e) => onFrame(JSON.parse(e.data));
  ws.onclose = (e) => {
    if (state.ws !== ws) return;
    setStatus("reconnecting…", "offline");
    if (e.code === 4001 && !DEV) { showError("Your token expired: sign in again."); return; }
    setTimeout(async () => { if (e.code === 4001 && DEV) await refreshDevToken(); connect(); }, state.backoff);
    state.backoff = Math.min(state.backoff * 2, 10000);
  };
}
async function refreshDevToken() {
  const r = await fetch(API + "/dev/token", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({user: state.me})});
  if (r.ok) state.token = (await r.json()).token;
}

function onFrame(f) {
  const j = f.channel_id ? state.joined.get(f.channel_id) : null;
  switch (f.type) {
    case "joined":
      if (!j) return;
      if (!f.recovered) { j.msgs.clear(); }
      if (j.lastSeq === null) { j.oldest = null; }
      for (const [mid, text] of j.pending) sendFrame({type: "message", channel_id: f.channel_id, content: text, message_id: mid});
      loadPresence(f.channel_id);
      break;
    case "message":
      if (!j) return;
      if (j.lastSeq !== null && f.seq <= j.lastSeq) return;   // already shown
      j.msgs.set(f.seq, f); j.lastSeq = f.seq;
      if (j.oldest === null || f.seq < j.oldest) j.oldest = f.seq;
      if (f.user_id === state.me) j.pending.delete(f.message_id);
      j.typing.delete(f.user_id);
      if (f.channel_id === state.current) renderLog(); else { j.unread++; renderChannels(); }
      break;
    case "ack":
      if (j && j.pending.delete(f.message_id) && f.channel_id === state.current) renderLog();
      break;
    case "message_deleted":
      if (j && j.msgs.delete(f.seq) && f.channel_id === state.current) renderLog();
      break;
    case "typing":
      if (j) { j.typing.set(f.user_id, {name: f.username, until: Date.now() + TYPING_SHOWN}); renderTyping(); }
      break;
    case "presence":
      if (!j) return;
      if (f.presence_type === "joined") j.who.set(f.user_id, f.username); else j.who.delete(f.user_id);
      if (f.channel_id === state.current) renderWho();
      break;
    case "left":
      if (f.reason) { showError(`You were removed from ${state.channels.get(f.channel_id)?.name || "a channel"} (${f.reason}).`); state.joined.delete(f.channel_id); if (state.current === f.channel_id) $("leave").onclick(); renderChannels(); }
      break;
    case "refresh_needed":
      if (DEV) refreshDevToken().then(() => sendFrame({type: "refresh", token: state.token}));
      break;
    case "error": {
      const where = f.channel_id && state.channels.get(f.channel_id) ? ` (#${state.channels.get(f.channel_id).name})` : "";
      if (f.message_id && j && f.code !== "unavailable") { j.pending.delete(f.message_id); if (f.channel_id === state.current) renderLog(); }
      if ((f.code === "forbidden" || f.code === "not_found" || f.code === "channel_full") && j && !j.msgs.size) { state.joined.delete(f.channel_id); renderChannels(); }
      showError(`${f.code.replace("_", " ")}: ${f.error}${where}`);
      break;
    }
  }
}

// ---- composing ----
let lastTyping = 0;
// The server passes one typing frame per user and channel per 2 s and drops the
// rest: send one every 2.5 s (jitter cannot bring two within 2 s of each other), and
// show one for 4 s, past the next one's arrival.
const TYPING_EVERY = 2500, TYPING_SHOWN = 4000;
$("text").oninput = () => { const now = Date.now(); if (state.current && now - lastTyping > TYPING_EVERY) { lastTyping = now; sendFrame({type: "typing", channel_id: state.current}); } };
$("compose").onsubmit = (e) => {
  e.preventDefault();
  const text = $("text").value; const id = state.current; const j = state.joined.get(id);
  if (!text.trim() || !j) return;
  const mid = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/-/g, "").slice(0, 32);
  j.pending.set(mid, text); $("text").value = "";
  sendFrame({type: "message", channel_id: id, content: text, message_id: mid});
  renderLog();
};
