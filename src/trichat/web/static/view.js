// Drawing the log: the main log (top-level messages), the thread panel, and each
// message's controls (react, reply, edit, delete). Text goes in through textContent only.
import {$, EMOJI, api, button, el, sendChange, sendFrame, showError, state, time} from "./core.js";
import {isReply, learnMine, readOf, replies, takeMessage, topLevel} from "./log.js";

export const current = () => state.joined.get(state.current);

function plural(n) { return n === 1 ? "1 reply" : `${n} replies`; }

function reactionsNode(m) {
  const box = el("div", "reactions");
  for (const r of m.reactions || []) {
    const mine = m.mine.has(r.emoji);
    const b = button(`${r.emoji} ${r.count}`, `${r.emoji} ${r.count}${mine ? ", yours: remove it" : ": add yours"}`,
      () => toggle(m, r.emoji), "reaction" + (mine ? " mine" : ""));
    b.setAttribute("aria-pressed", String(mine)); b.dataset.key = "r" + r.emoji;
    box.appendChild(b);
  }
  return box;
}
function toggle(m, emoji) {
  state.picker = null;
  sendChange({type: m.mine.has(emoji) ? "unreact" : "react", target_seq: m.seq, emoji});
  refresh([m.seq], "react");
}

function pickerNode(m) {
  const box = el("div", "picker"); box.setAttribute("role", "group"); box.setAttribute("aria-label", "Pick a reaction");
  for (const e of EMOJI) { const b = button(e, `React with ${e}`, () => toggle(m, e)); b.dataset.key = "p" + e; box.appendChild(b); }
  return box;
}

function toolsNode(m, inThread) {
  const tools = el("div", "tools");
  const add = (text, label, key, fn) => { const b = button(text, label, fn); b.dataset.key = key; tools.appendChild(b); };
  if (state.confirming === m.seq) {
    tools.appendChild(el("span", "ask", "Delete this message?"));
    add("Yes, delete", "Yes, delete it", "yes", () => { state.confirming = null; sendChange({type: "delete", target_seq: m.seq}); refresh([m.seq], "yes"); });
    add("No", "No, keep it", "no", () => { state.confirming = null; refresh([m.seq], "del"); });
    return tools;
  }
  add("☺+", "Add a reaction", "react", () => { state.picker = state.picker === m.seq ? null : m.seq; refresh([m.seq], "p" + EMOJI[0]); });
  if (!isReply(m) && !inThread) add("Reply", "Reply in a thread", "reply", () => openThread(m.seq));
  if (m.user_id === state.me && m.kind !== "system") {
    add("Edit", "Edit this message", "edit", () => { state.editing = {seq: m.seq, draft: m.content}; refresh([m.seq], "editin"); });
    add("Delete", "Delete this message", "del", () => { state.confirming = m.seq; refresh([m.seq], "no"); });
  }
  return tools;
}

function editNode(m) {
  const form = el("form", "editform");
  const input = el("input", "editin"); input.value = state.editing.draft; input.dataset.key = "editin";
  input.setAttribute("aria-label", "Edit the message"); input.maxLength = 500;
  input.oninput = () => { state.editing.draft = input.value; };
  const cancel = () => { state.editing = null; refresh([m.seq], "edit"); };
  input.onkeydown = (e) => { if (e.key === "Escape") cancel(); };
  form.onsubmit = (e) => {
    e.preventDefault();
    const text = input.value; state.editing = null;
    if (text.trim() && text !== m.content) sendChange({type: "edit", target_seq: m.seq, content: text});
    refresh([m.seq], "edit");
  };
  const save = el("button", null, "Save"); save.setAttribute("aria-label", "Save the edit");
  form.append(input, save, button("Cancel", "Cancel the edit", cancel));
  return form;
}

/** One message's row; `pending`: sent, not acked yet (no controls); `inThread`: in the thread panel. */
export function msgNode(m, {pending = false, inThread = false} = {}) {
  const row = el("div", "msg" + (pending ? " pending" : "") + (m.kind === "system" ? " system" : "") + (m.deleted ? " deleted" : ""));
  row.dataset.seq = m.seq || ""; row.dataset.mid = m.message_id;
  row.appendChild(el("span", "meta", pending ? "" : time(m.timestamp)));
  const body = el("div", "main"); row.appendChild(body);
  body.appendChild(el("span", "author", m.display_name || m.username || m.user_id));
  if (m.deleted) body.appendChild(el("span", "body gone", "message deleted"));
  else if (state.editing && state.editing.seq === m.seq) body.appendChild(editNode(m));
  else body.appendChild(el("span", "body", m.content));
  if (m.edited_at && !m.deleted) { const e = el("span", "edited", "(edited)"); e.title = time(m.edited_at); body.appendChild(e); }
  if (!pending) {
    if (m.reactions && m.reactions.length) body.appendChild(reactionsNode(m));
    if (!isReply(m) && m.reply_count > 0 && !inThread) {
      const b = button(plural(m.reply_count), `Open the thread: ${plural(m.reply_count)}`, () => openThread(m.seq), "quiet replies");
      b.dataset.key = "replies"; body.appendChild(b);
    }
    if (state.picker === m.seq && !m.deleted) body.appendChild(pickerNode(m));
    if (!m.deleted) row.appendChild(toolsNode(m, inThread));
  }
  return row;
}

/** Run `draw`, then put the focus back where it was (the same control of the same
 * message, the caret too) or on `want`, so that redrawing never loses a keyboard user. */
function keepingFocus(draw, want) {
  const a = document.activeElement; const row = a && a.closest ? a.closest(".msg") : null;
  const was = row && row.dataset.seq ? {seq: row.dataset.seq, key: a.dataset.key, box: a.closest("#thread") ? "thread" : "log"} : null;
  const caret = a && a.tagName === "INPUT" ? [a.selectionStart, a.selectionEnd] : null;
  draw();
  if (!was) return;
  const again = $(was.box).querySelector(`.msg[data-seq="${was.seq}"]`);
  if (!again) return;
  const key = want || was.key;
  const target = (key && again.querySelector(`[data-key="${CSS.escape(key)}"]`)) || again.querySelector("button, input");
  if (!target) return;
  target.focus();
  if (caret && !want && target.tagName === "INPUT" && target.dataset.key === was.key) target.setSelectionRange(...caret);
}

/** Redraw these messages where they show (main log, thread); `want`: the control to focus next. */
export function refresh(seqs, want) {
  const j = current(); if (!j) return;
  keepingFocus(() => {
    for (const seq of new Set(seqs)) {
      const m = j.msgs.get(seq); if (!m) continue;
      for (const node of document.querySelectorAll(`#log .msg[data-seq="${seq}"]`)) node.replaceWith(msgNode(m));
      for (const node of document.querySelectorAll(`#thread .msg[data-seq="${seq}"]`)) node.replaceWith(msgNode(m, {inThread: true}));
    }
  }, want);
}

/** A message sent and not acked: "sending", or refused (the reason, Retry and Discard). */
function pendingNode(mid, p, inThread) {
  const row = msgNode({message_id: mid, content: p.text, user_id: state.me, username: state.me}, {pending: true, inThread});
  if (!p.failed) return row;
  row.classList.replace("pending", "failed");
  const why = el("div", "reason"); why.appendChild(el("span", null, "Not sent: " + p.failed));
  const retry = button("Retry", "Retry sending this message", () => resend(mid)); retry.dataset.key = "retry";
  why.append(retry, button("Discard", "Discard this message", () => discard(mid)));
  row.querySelector(".main").appendChild(why);
  return row;
}
function redrawPending(p) { if (p.parent === null) renderLog(); else renderThread(); }
function resend(mid) {
  const j = current(); const p = j && j.pending.get(mid); if (!p) return;
  const frame = {type: "message", channel_id: state.current, content: p.text, message_id: mid};   // the same id: never stored twice
  if (p.parent !== null) frame.parent_seq = p.parent;
  if (!sendFrame(frame)) { showError("offline: it is sent once reconnected"); }
  p.failed = null; redrawPending(p); $(p.parent === null ? "text" : "threadtext").focus();   // its row has no controls while sending
}
function discard(mid) {
  const j = current(); const p = j && j.pending.get(mid); if (!p) return;
  j.pending.delete(mid); redrawPending(p); $(p.parent === null ? "text" : "threadtext").focus();
}

let olderLoader = null;
export function renderLog(loadOlder = olderLoader) {
  olderLoader = loadOlder;
  const j = current(); const log = $("log");
  keepingFocus(() => {
    log.textContent = "";
    if (!j) return;
    if (!j.done && j.oldest !== null && j.oldest > 1) { const b = el("button", "quiet", "Load older messages"); b.id = "older"; b.onclick = loadOlder; log.appendChild(b); }
    const shown = topLevel(j);
    const d = state.divider; let line = d && d.id === state.current && !d.pending ? d.after : null;
    for (const m of shown) {
      if (line !== null && m.seq > line) { log.appendChild(dividerNode()); line = null; }   // above the first unread
      log.appendChild(msgNode(m));
    }
    const mine = [...j.pending].filter(([, p]) => p.parent === null);
    for (const [mid, p] of mine) log.appendChild(pendingNode(mid, p, false));
    if (!shown.length && !mine.length && j.replayUntil !== null) log.appendChild(el("div", "empty", "No messages here yet: say hello."));
  });
  log.scrollTop = log.scrollHeight;
  soon();   // once the frames at hand are drawn: one read, not one per message
}

export function renderThread() {
  const j = current(); const root = j && state.thread !== null ? j.msgs.get(state.thread) : null;
  $("app").classList.toggle("threaded", Boolean(root)); $("thread").hidden = !root;
  const box = $("threadlog");
  keepingFocus(() => {
    box.textContent = ""; $("threadroot").textContent = "";
    if (!root) return;
    $("threadroot").appendChild(msgNode(root, {inThread: true}));
    const n = root.reply_count || 0;
    $("threadcount").textContent = n ? plural(n) : "No replies yet";
    for (const m of replies(j, root.seq)) box.appendChild(msgNode(m, {inThread: true}));
    for (const [mid, p] of j.pending) if (p.parent === root.seq) box.appendChild(pendingNode(mid, p, true));
  });
  box.scrollTop = box.scrollHeight;
  soon();   // once the frames at hand are drawn: one read, not one per message
}

/** Open a root's thread: the replies the page holds at once, then the rest from REST. */
export async function openThread(seq) {
  const id = state.current; const j = current();
  state.thread = seq;
  renderThread(); $("threadtext").focus();
  try {
    const page = await api(`/channels/${id}/messages?thread=${seq}&limit=100`);
    if (state.joined.get(id) !== j) return;
    for (const m of page.messages) takeMessage(j, m, {live: false, asOf: j.lastSeq || 0});
    learnMine(j, page.messages);
    if (state.current === id && state.thread === seq) renderThread();
  } catch (err) { showError(err.message); }
}

export function closeThread() {
  const was = state.thread; state.thread = null;
  renderThread();
  if (was !== null) { const b = $("log").querySelector(`.msg[data-seq="${was}"] [data-key="replies"], .msg[data-seq="${was}"] [data-key="reply"]`); if (b) b.focus(); }
}

// ---- read state on the page: badges, the "new messages" line, marking read ----
function dividerNode() {
  const d = el("div", "divider", "New messages"); d.setAttribute("role", "separator"); d.setAttribute("aria-label", "New messages");
  return d;
}

/** The unread badge of channel `id`, or null at 0. */
export function badge(id) {
  const n = unreadOf(id); if (!n) return null;
  const b = el("span", "unread", String(n)); b.setAttribute("role", "img"); b.setAttribute("aria-label", `${n} unread`);
  return b;
}
export function unreadOf(id) { const r = state.reads.get(id); return r ? r.unread : 0; }

function atBottom(box) { return box.scrollHeight - box.scrollTop - box.clientHeight < 4; }
function shown(box) { return box.getClientRects().length > 0; }
function highestInView(box) {   // the highest seq of the rows of `box` the user can see
  const b = box.getBoundingClientRect(); let top = 0;
  for (const row of box.querySelectorAll(".msg[data-seq]")) {
    const seq = Number(row.dataset.seq); if (!seq || seq <= top) continue;
    const r = row.getBoundingClientRect();
    if (r.bottom > b.top && r.top < b.bottom) top = seq;
  }
  return top;
}

/** Send a `read` for the highest seq the user sees in the open channel: all it holds
 * (replies too, counted on their roots) when the log shows its end, else the rows in
 * view. Nothing while the page is hidden, nothing at or below the marker. */
function markSeen() {
  const j = current(); if (!j || document.visibilityState !== "visible") return;
  const log = $("log"); let seq = 0;
  if (shown(log)) seq = atBottom(log) ? Math.max(0, ...j.msgs.keys()) : highestInView(log);
  if (shown($("thread"))) seq = Math.max(seq, highestInView($("threadroot")), highestInView($("threadlog")));
  const r = readOf(state.reads, state.current);
  if (r.seq === null || seq <= r.seq || seq <= r.sent) return;
  if (sendFrame({type: "read", channel_id: state.current, seq})) r.sent = seq;
}

let scheduled = false;
function soon() { if (!scheduled) { scheduled = true; requestAnimationFrame(() => { scheduled = false; markSeen(); }); } }
$("log").addEventListener("scroll", soon, {passive: true});
$("threadlog").addEventListener("scroll", soon, {passive: true});
document.addEventListener("visibilitychange", markSeen);
window.addEventListener("resize", soon);
