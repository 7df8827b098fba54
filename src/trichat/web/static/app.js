// The page's entry (a module: core.js, log.js and view.js come with it): sign-in,
// channels, the socket and the frames it brings.
import {$, API, api, el, newId, sendFrame, showError, state} from "./core.js";
import {advance, applyEvent, countMessage, learnMine, newChannel, readOf, setRead, takeMessage, uncountMessage} from "./log.js";
import {badge, closeThread, current, refresh, renderLog, renderThread, unreadOf} from "./view.js";

// the server sets data-dev="true" on <html> when it runs with --dev
const DEV = document.documentElement.dataset.dev === "true";

function claims(token) { try { return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))); } catch { return null; } }

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

// ---- the session: kept across a reload of this tab (the token, the channels joined) ----
const SESSION = "trichat.session";
function saveSession() {
  if (state.token) sessionStorage.setItem(SESSION, JSON.stringify({token: state.token, joined: [...state.joined.keys()], current: state.current}));
}
function forgetSession() { sessionStorage.removeItem(SESSION); }
async function resume() {
  let s; try { s = JSON.parse(sessionStorage.getItem(SESSION)); } catch { s = null; }
  if (!s || !s.token) return;
  if (!await start(s.token, s.joined || [])) { forgetSession(); return; }
  if (s.current && state.joined.has(s.current)) openChannel(s.current);
}

async function start(token, rejoin = []) {
  const c = claims(token);
  if (!c || !c.sub) { $("signinerr").textContent = "That does not look like a JWT."; return false; }
  state.token = token; state.me = c.sub;
  try { await loadChannels(); } catch (err) { $("signinerr").textContent = err.message; return false; }
  for (const id of rejoin) if (state.channels.has(id)) state.joined.set(id, newChannel());   // joined once the socket opens
  renderChannels();
  $("signin").hidden = true; $("app").classList.add("on");
  $("me").textContent = "signed in as " + (c.username || c.sub);
  connect();
  return true;
}

// ---- channels ----
async function loadChannels() {   // every page: the server returns at most 100 at a time
  const all = new Map();
  for (let offset = 0; ;) {
    const page = await api(`/channels?limit=100&offset=${offset}`);
    for (const c of page.channels) { all.set(c.id, c); setRead(readOf(state.reads, c.id), c.read_seq, c.unread); }
    offset += page.channels.length;
    if (page.channels.length === 0 || offset >= page.total) break;
  }
  state.channels = all;
  renderChannels();
}
function renderChannels() {
  const list = $("chanlist"); list.textContent = "";
  const pick = $("chanswitch"); pick.textContent = "";   // the same list, on narrow screens
  if (!state.current) pick.appendChild(el("option", null, "Pick a channel…")).value = "";
  for (const c of state.channels.values()) {
    const row = el("button", "chan" + (state.joined.has(c.id) ? " joined" : "") + (c.id === state.current ? " current" : ""));
    row.type = "button"; row.dataset.id = c.id;
    if (c.id === state.current) row.setAttribute("aria-current", "true");
    const n = unreadOf(c.id);
    const opt = pick.appendChild(el("option", null, (c.channel_type === "private" ? "🔒 " : "# ") + c.name + (n ? ` (${n} unread)` : "")));
    opt.value = c.id; opt.selected = c.id === state.current;
    row.appendChild(el("span", "dot"));
    row.appendChild(el("span", null, (c.channel_type === "private" ? "🔒 " : "# ") + c.name));
    const b = badge(c.id); if (b) row.appendChild(b);
    row.onclick = () => openChannel(c.id);
    list.appendChild(row);
  }
  const elsewhere = [...state.channels.keys()].filter((id) => id !== state.current).reduce((sum, id) => sum + unreadOf(id), 0);
  const sw = $("switchunread"); sw.hidden = !elsewhere; sw.textContent = String(elsewhere); sw.setAttribute("aria-label", `${elsewhere} unread in other channels`);
  saveSession();
}
$("chanswitch").onchange = () => { if ($("chanswitch").value) openChannel($("chanswitch").value); };
$("newchan").onsubmit = async (e) => {
  e.preventDefault();
  const name = $("newname").value.trim(); if (!name) return;
  try { const c = await api("/channels", {method: "POST", body: JSON.stringify({name})}); $("newname").value = ""; state.channels.set(c.id, c); openChannel(c.id); }
  catch (err) { showError(err.message); }
};

function openChannel(id) {
  if (state.current !== id) { state.thread = null; state.editing = null; state.picker = null; state.confirming = null; state.divider = null; }
  state.current = id;
  if (!state.joined.has(id)) { state.joined.set(id, newChannel()); sendFrame({type: "join", channel_id: id}); }
  if (!state.divider) placeDivider(id, state.joined.get(id).replayUntil === null);
  const c = state.channels.get(id);
  $("channame").textContent = c ? "# " + c.name : id; $("chandesc").textContent = c ? c.description : "";
  $("leave").hidden = false; $("text").disabled = false; $("send").disabled = false; $("text").focus();
  renderChannels(); renderLog(loadOlder); renderThread(); renderWho(); renderTyping();
}
$("leave").onclick = () => {
  const id = state.current; if (!id) return;
  sendFrame({type: "leave", channel_id: id}); state.joined.delete(id); state.current = null; state.thread = null; state.divider = null; saveSession();
  $("log").textContent = ""; $("log").appendChild(el("div", "empty", "Pick a channel."));
  $("leave").hidden = true; $("text").disabled = true; $("send").disabled = true; $("channame").textContent = ""; $("chandesc").textContent = "";
  renderChannels(); renderThread(); renderWho();
};

/** The "new messages" line: where the marker is as the channel opens (once joined: `pending` till then). */
function placeDivider(id, pending) {
  const r = readOf(state.reads, id);
  state.divider = {id, pending, after: r.unread > 0 ? r.seq : null};
}

function renderWho() {
  const who = $("who"); who.textContent = "";
  const j = current(); if (!j) return;
  for (const name of [...j.who.values()].sort()) who.appendChild(el("div", "who", name));
}
function renderTyping() {
  const j = current(); const now = Date.now();
  const names = j ? [...j.typing.values()].filter((t) => t.until > now).map((t) => t.name) : [];
  $("typing").textContent = names.length === 0 ? "" : names.join(", ") + (names.length === 1 ? " is typing…" : " are typing…");
}
setInterval(renderTyping, 500);

async function loadOlder() {   // older top-level messages: replies show in their threads
  const id = state.current; const j = current(); if (!j || j.oldest === null) return;
  try {
    const page = await api(`/channels/${id}/messages?limit=50&before=${j.oldest}&top_level=true`);
    for (const m of page.messages) takeMessage(j, m, {live: false, asOf: j.lastSeq || 0});
    if (page.next_cursor === null) j.done = true;
    const log = $("log"); const before = log.scrollHeight; renderLog(loadOlder); log.scrollTop = log.scrollHeight - before;
  } catch (err) { showError(err.message); }
}
async function loadMine(id, j) {   // which reactions are mine: the join's history does not say
  try { const page = await api(`/channels/${id}/messages?limit=100`); if (state.joined.get(id) === j) redraw(id, learnMine(j, page.messages)); } catch {}
}
async function loadPresence(id) {
  try { const p = await api(`/channels/${id}/presence`); const j = state.joined.get(id); if (!j) return;
    j.who = new Map(p.users.map((u) => [u.user_id, u.username])); if (id === state.current) renderWho(); } catch {}
}

// ---- the socket ----
function setStatus(text, cls) { $("status").textContent = text; $("status").className = cls; }
function connect() {
  setStatus("connecting…", "");
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws?token=${encodeURIComponent(state.token)}`);
  state.ws = ws;
  ws.onopen = () => {
    state.backoff = 500; setStatus("online", "online");
    for (const [id, j] of state.joined) {   // rejoin with since = the last seq of any frame: no gaps, no duplicates
      const f = {type: "join", channel_id: id}; if (j.lastSeq !== null) f.since = j.lastSeq; ws.send(JSON.stringify(f));
    }
  };
  ws.onmessage = (e) => onFrame(JSON.parse(e.data));
  ws.onclose = (e) => {
    if (state.ws !== ws) return;
    setStatus("reconnecting…", "offline");
    if (e.code === 4001 && !DEV) { forgetSession(); showError("Your token expired: sign in again."); return; }
    setTimeout(async () => { if (e.code === 4001 && DEV) await refreshDevToken(); connect(); }, state.backoff);
    state.backoff = Math.min(state.backoff * 2, 10000);
  };
}
async function refreshDevToken() {
  const r = await fetch(API + "/dev/token", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({user: state.me})});
  if (r.ok) { state.token = (await r.json()).token; saveSession(); }
}

/** Show what changed in channel `id`: the main log for a new top-level message, else the rows. */
function redraw(id, changed, {newTop = false, thread = false} = {}) {
  if (id !== state.current) return;
  if (newTop) renderLog(loadOlder); else refresh(changed);
  if (thread || (state.thread !== null && changed.includes(state.thread))) renderThread();
}

function onJoined(f, j) {
  const fresh = j.lastSeq === null || !f.recovered;
  if (!f.recovered) {   // more than RECOVER_MAX missed: start over from the newest history
    j.msgs.clear(); j.lastSeq = null; j.oldest = null; j.done = false;
  }
  j.replayUntil = f.last_seq;   // the history or replay that follows is in current state as of it
  const r = readOf(state.reads, f.channel_id);
  setRead(r, f.read_seq, f.unread, f.last_seq); r.sent = 0;   // exact as of last_seq: what follows up to it counts already
  if (state.divider && state.divider.id === f.channel_id && state.divider.pending) placeDivider(f.channel_id, false);
  for (const [mid, p] of j.pending) {
    if (p.failed) continue;   // refused: sent again only by its Retry
    const m = {type: "message", channel_id: f.channel_id, content: p.text, message_id: mid};
    if (p.parent !== null) m.parent_seq = p.parent;
    sendFrame(m);
  }
  if (fresh) loadMine(f.channel_id, j);
  loadPresence(f.channel_id);
  redraw(f.channel_id, [], {newTop: true, thread: true});
  renderChannels();
}

function onMessage(f, j) {
  if (!advance(j, f.seq)) return;   // already shown
  const viewed = f.channel_id === state.current && document.visibilityState === "visible";   // read at once
  if (!viewed && countMessage(readOf(state.reads, f.channel_id), f, state.me)) renderChannels();
  const asOf = j.replayUntil !== null && f.seq <= j.replayUntil ? j.replayUntil : f.seq;
  const changed = takeMessage(j, f, {live: true, asOf});
  if (f.user_id === state.me) j.pending.delete(f.message_id);
  j.typing.delete(f.user_id);
  const reply = f.parent_seq !== null && f.parent_seq !== undefined;
  if (f.channel_id !== state.current) return;
  redraw(f.channel_id, changed, {newTop: !reply, thread: reply && f.parent_seq === state.thread});
}

const EVENTS = new Set(["message_edited", "message_deleted", "reaction_added", "reaction_removed"]);

function onFrame(f) {
  const j = f.channel_id ? state.joined.get(f.channel_id) : null;
  if (EVENTS.has(f.type)) {
    if (!j || (j.lastSeq !== null && f.seq <= j.lastSeq)) return;   // seen already
    if (f.type === "message_deleted" && uncountMessage(readOf(state.reads, f.channel_id), j.msgs.get(f.target_seq), state.me)) renderChannels();
    if (advance(j, f.seq)) redraw(f.channel_id, applyEvent(j, f, state.me));
    return;
  }
  switch (f.type) {
    case "joined": if (j) onJoined(f, j); break;
    case "read": onRead(f); break;
    case "message": if (j) onMessage(f, j); break;
    case "ack": {
      const p = j && j.pending.get(f.message_id);
      if (p && j.pending.delete(f.message_id)) redraw(f.channel_id, [], {newTop: p.parent === null, thread: p.parent !== null});
      break;
    }
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
    case "error": onError(f, j); break;
  }
}

/** My marker moved (on any of my devices): the badge follows. A receipt (another
 * member's read: no counts) changes nothing here. */
function onRead(f) {
  if (f.user_id !== state.me || !("unread" in f)) return;
  if (setRead(readOf(state.reads, f.channel_id), f.seq, f.unread)) renderChannels();
}

function onError(f, j) {
  const where = f.channel_id && state.channels.get(f.channel_id) ? ` (#${state.channels.get(f.channel_id).name})` : "";
  const p = f.message_id && j && f.code !== "unavailable" ? j.pending.get(f.message_id) : null;
  if (p) {   // refused: it stays where it was, marked failed with the reason and a retry
    p.failed = `${f.code.replace("_", " ")}: ${f.error}`;
    redraw(f.channel_id, [], {newTop: p.parent === null, thread: p.parent !== null});
  }
  if ((f.code === "forbidden" || f.code === "not_found" || f.code === "channel_full") && j && !j.msgs.size) { state.joined.delete(f.channel_id); renderChannels(); }
  if (!p || f.channel_id !== state.current) showError(`${f.code.replace("_", " ")}: ${f.error}${where}`);
}

// ---- composing ----
let lastTyping = 0;
// The server passes one typing frame per user and channel per 2 s and drops the
// rest: send one every 2.5 s (jitter cannot bring two within 2 s of each other), and
// show one for 4 s, past the next one's arrival.
const TYPING_EVERY = 2500, TYPING_SHOWN = 4000;
function typed() { const now = Date.now(); if (state.current && now - lastTyping > TYPING_EVERY) { lastTyping = now; sendFrame({type: "typing", channel_id: state.current}); } }
$("text").oninput = typed;
$("threadtext").oninput = typed;

/** Send what `input` holds: a top-level message, or a reply in the thread of `parent`. */
function compose(input, parent) {
  const text = input.value; const id = state.current; const j = current();
  if (!text.trim() || !j) return;
  const mid = newId();
  j.pending.set(mid, {text, parent}); input.value = "";
  const frame = {type: "message", channel_id: id, content: text, message_id: mid};
  if (parent !== null) frame.parent_seq = parent;
  sendFrame(frame);
  redraw(id, [], {newTop: parent === null, thread: parent !== null});
}
$("compose").onsubmit = (e) => { e.preventDefault(); compose($("text"), null); };
$("threadcompose").onsubmit = (e) => { e.preventDefault(); if (state.thread !== null) compose($("threadtext"), state.thread); };
$("threadclose").onclick = closeThread;

resume();
