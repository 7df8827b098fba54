// The channel log as the page holds it: messages in current state, the events applied
// to them, replies counted on their roots (docs/protocol.md "How a client applies the
// log"). No DOM here: every function returns the seqs of the messages it changed.

export function newChannel() {
  return {
    lastSeq: null,       // the highest seq seen of any frame: `since` on a rejoin
    replayUntil: null,   // the last `joined`'s last_seq: messages up to it come in current state
    msgs: new Map(),     // seq -> message, with asOf (the seq its state is as of) and mine (emoji held)
    mineHint: new Map(), // seq -> emoji the caller holds, from REST, for messages not yet held
    pending: new Map(),  // message_id -> {text, parent}: sent, not yet acked
    who: new Map(), typing: new Map(),
    oldest: null,        // the oldest top-level seq held: where "Load older" pages back from
    done: false,
  };
}

/** A frame seen: false if its seq was seen already, else the cursor moves to it. */
export function advance(j, seq) {
  if (j.lastSeq !== null && seq <= j.lastSeq) return false;
  j.lastSeq = seq;
  return true;
}

/** A message from a frame (`live`: a reply counts on its root) or from REST (as of `asOf`). */
export function takeMessage(j, m, {live, asOf}) {
  if (j.msgs.has(m.seq)) return [];   // the one held is kept current by the events
  const hint = j.mineHint.get(m.seq);
  j.mineHint.delete(m.seq);
  m.asOf = asOf;
  m.mine = hint || new Set((m.reactions || []).filter((r) => r.me).map((r) => r.emoji));
  m.mineKnown = Boolean(hint) || (m.reactions || []).some((r) => "me" in r);
  j.msgs.set(m.seq, m);
  if (m.parent_seq === null || m.parent_seq === undefined) {
    if (j.oldest === null || m.seq < j.oldest) j.oldest = m.seq;
    return [m.seq];
  }
  const root = j.msgs.get(m.parent_seq);
  if (!live || !root || m.seq <= root.asOf) return [m.seq];   // the root counts it already
  root.reply_count = (root.reply_count || 0) + 1;
  root.last_reply_at = m.timestamp;
  root.asOf = m.seq;
  return [m.seq, root.seq];
}

/** An event (message_edited, message_deleted, reaction_added, reaction_removed). */
export function applyEvent(j, f, me) {
  const m = j.msgs.get(f.target_seq);
  if (!m) return [];   // older than what the page holds
  const changed = [];
  if (f.type.startsWith("reaction_") && f.user_id === me) {   // which emoji are mine: every event, in order
    if (f.type === "reaction_added") m.mine.add(f.emoji); else m.mine.delete(f.emoji);
    m.mineKnown = true;
    changed.push(m.seq);
  }
  if (f.type === "message_deleted") changed.push(...uncount(j, m, f.seq));
  if (f.seq <= m.asOf) return changed;   // the message shows it already
  m.asOf = f.seq;
  if (f.type === "message_edited") { m.content = f.content; m.edited_at = f.edited_at; }
  else if (f.type === "message_deleted") { m.deleted = true; m.content = ""; m.reactions = []; m.mine.clear(); }
  else setCount(m, f.emoji, f.count);
  return [...new Set([...changed, m.seq])];
}

function uncount(j, reply, seq) {   // a deleted reply leaves its root's count
  const root = reply.parent_seq === null ? null : j.msgs.get(reply.parent_seq);
  if (!root || seq <= root.asOf) return [];
  root.reply_count = Math.max(0, (root.reply_count || 0) - 1);
  root.asOf = seq;
  return [root.seq];
}

function setCount(m, emoji, count) {   // counts are absolute: applying one twice is harmless
  const rs = m.reactions || (m.reactions = []);
  const at = rs.findIndex((r) => r.emoji === emoji);
  if (count === 0) { if (at >= 0) rs.splice(at, 1); }
  else if (at >= 0) rs[at].count = count;
  else rs.push({emoji, count});
}

/** Which emoji the caller holds, from a REST page (`me`), where events have not told already. */
export function learnMine(j, rows) {
  const changed = [];
  for (const r of rows) {
    const mine = new Set(r.reactions.filter((x) => x.me).map((x) => x.emoji));
    const m = j.msgs.get(r.seq);
    if (!m) j.mineHint.set(r.seq, mine);
    else if (!m.mineKnown) { m.mine = mine; m.mineKnown = true; changed.push(m.seq); }
  }
  return changed;
}

export const isReply = (m) => m.parent_seq !== null && m.parent_seq !== undefined;
export function topLevel(j) { return [...j.msgs.values()].filter((m) => !isReply(m)).sort((a, b) => a.seq - b.seq); }
export function replies(j, root) { return [...j.msgs.values()].filter((m) => m.parent_seq === root).sort((a, b) => a.seq - b.seq); }

// ---- read state (SPEC §7): the caller's marker and unread count per channel ----
// `unread` is exact as the server last said (REST, `joined`, the caller's `read`
// frames) and kept current between them by the messages after `upTo`.

export function readOf(reads, id) {
  let r = reads.get(id);
  if (!r) reads.set(id, r = {seq: null, unread: 0, upTo: 0, sent: 0});
  return r;
}

/** The server's word (REST, `joined`, `read`): ignored if it is behind the marker held. */
export function setRead(r, seq, unread, upTo = 0) {
  if (seq === null || seq === undefined || (r.seq !== null && seq < r.seq)) return false;
  r.seq = seq; r.unread = unread; r.upTo = Math.max(r.upTo, upTo, seq);
  return true;
}

/** A live message: one more unread if it is someone else's, above the marker and not counted yet. */
export function countMessage(r, m, me) {
  if (r.seq === null || m.seq <= r.seq || m.seq <= r.upTo) return false;
  r.upTo = m.seq;
  if (m.user_id === me || m.deleted) return false;
  r.unread++;
  return true;
}

/** A message_deleted of `m` (as held, before the event): one fewer if it counted. */
export function uncountMessage(r, m, me) {
  if (!m || m.deleted || m.user_id === me || r.seq === null || m.seq <= r.seq || m.seq > r.upTo) return false;
  r.unread = Math.max(0, r.unread - 1);
  return true;
}
