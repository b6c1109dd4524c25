// P2PDB dashboard: one page per view (#/ node, #/peers, #/db/NAME, #/feed/NAME), all read from
// this node's HTTP API. No other source, no external assets. The API's bearer token (if the node
// has one) comes from ?token=... once, and is kept in this tab's sessionStorage.
"use strict";

const TOKEN_KEY = "p2pdb-token";
let feedAbort = null;

(function takeToken() {
  const params = new URLSearchParams(location.search);
  if (params.has("token")) {
    sessionStorage.setItem(TOKEN_KEY, params.get("token"));
    params.delete("token");
    const query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? "?" + query : "") + location.hash);
  }
})();

class Unauthorized extends Error {}

function headers() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: "Bearer " + token } : {};
}

async function api(path) {
  const response = await fetch(path, { headers: headers() });
  if (response.status === 401) throw new Unauthorized("this node's API needs its bearer token");
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// -- building the DOM (text only: nothing from the API is ever parsed as HTML) ---------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function table(id, columns, rows, empty) {
  if (!rows.length) return el("p", { id, class: "muted", "data-empty": "1" }, empty || "None.");
  return el("table", { id },
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))));
}

function short(text, n) {
  text = String(text ?? "");
  return text.length > (n || 16) ? text.slice(0, n || 16) + "…" : text;
}

function duration(seconds) {
  seconds = Math.round(seconds);
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600);
  const m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + (d || h || m ? m + "m " : "") + s + "s";
}

function show(...children) {
  const main = document.getElementById("main");
  main.replaceChildren(...children);
}

// -- pages ------------------------------------------------------------------------------------

async function nodePage() {
  const status = await api("/v1/status");
  const databases = status.databases || [];
  const addresses = status.addresses || {};
  show(
    el("h1", {}, "This node"),
    el("dl", { id: "node" },
      el("dt", {}, "Peer id"), el("dd", { id: "peer-id", class: "mono" }, status.peer_id),
      el("dt", {}, "Version"), el("dd", { id: "version" }, status.version),
      el("dt", {}, "Role"), el("dd", { id: "role" }, status.role),
      el("dt", {}, "Storage"), el("dd", { id: "storage" }, status.storage || "file"),
      el("dt", {}, "Uptime"), el("dd", { id: "uptime" }, duration(status.uptime_seconds || 0)),
      Object.entries(addresses).map(([kind, address]) => [
        el("dt", {}, kind.toUpperCase()), el("dd", { "data-address": kind, class: "mono" }, address || "off")])),
    el("h2", {}, "Databases"),
    table("databases", ["Database", "Entries", "Heads", "Missing", "Checkpoint", "Notes"],
      databases.map((db) => {
        const cp = db.checkpoints || {};
        const final = cp.final ? "#" + cp.final.seq : "none";
        const notes = [];
        if (db.damaged) notes.push(el("span", { class: "warn" }, "damaged: " + db.damaged));
        for (const [rule, n] of Object.entries(db.missing_rules || {}))
          notes.push(el("span", { class: "warn" }, `rule ${rule} missing: ${n} waiting`));
        if (cp.mismatch) notes.push(el("span", { class: "warn" }, "state mismatch: " + cp.mismatch));
        return [el("a", { href: "#/db/" + encodeURIComponent(db.name), "data-db": db.name }, db.name),
          db.entries, (db.heads || []).length, db.missing, final, notes];
      }), "No database yet."),
  );
}

async function peersPage() {
  const [status, peers] = await Promise.all([api("/v1/status"), api("/v1/peers")]);
  const list = peers.peers || [];
  const linked = new Set(list.flatMap((p) => [p.address, ...(p.listen || [])]));
  const known = (peers.known || []).filter((a) => !linked.has(a));
  show(
    el("h1", {}, "Peers and links"),
    topology(status.peer_id, list, known),
    el("h2", {}, `Linked peers (${list.length})`),
    table("peers", ["Peer", "Address", "Direction", "Latency", "Entries in", "Lag (entries they lack)"],
      list.map((p) => [el("span", { class: "mono", "data-peer": p.peer_id }, short(p.peer_id, 20)), p.address,
        p.direction, p.latency_ms === null ? "–" : p.latency_ms + " ms", p.entries_received,
        Object.entries(p.lag || {}).map(([db, n]) => `${db}: ${n === null ? "ahead or concurrent" : n}`).join(", ")]),
      "No peer linked."),
    el("h2", {}, `Known addresses not linked (${known.length})`),
    table("known", ["Address"], known.map((a) => [a]), "None."),
  );
}

function topology(self, peers, known) {
  const size = 420, mid = size / 2, radius = 150;
  const all = [...peers.map((p) => ({ label: short(p.peer_id, 14), address: p.address, known: false })),
    ...known.map((a) => ({ label: a, address: a, known: true }))];
  const parts = [];
  all.forEach((node, i) => {
    const angle = (2 * Math.PI * i) / Math.max(all.length, 1) - Math.PI / 2;
    node.x = mid + radius * Math.cos(angle);
    node.y = mid + radius * Math.sin(angle);
    parts.push(svg("line", { class: "edge" + (node.known ? " known" : ""), x1: mid, y1: mid, x2: node.x, y2: node.y }));
  });
  all.forEach((node) => parts.push(svg("g", { class: "peer-node", "data-address": node.address },
    svg("circle", { cx: node.x, cy: node.y, r: 9, fill: node.known ? "#fff" : "#7fa8d6", stroke: "#2f6fb2" }),
    svg("text", { x: node.x + 12, y: node.y + 4 }, node.label))));
  parts.push(svg("g", { class: "self-node" },
    svg("circle", { cx: mid, cy: mid, r: 13, fill: "#2f6fb2" }),
    svg("text", { x: mid + 16, y: mid + 4 }, "this node " + short(self, 14))));
  const wide = size + 160;  // room for the labels on the right
  return svg("svg", { id: "topology", width: wide, height: size, viewBox: `0 0 ${wide} ${size}` }, parts);
}

async function databasePage(name) {
  const path = encodeURIComponent(name);
  const [status, log, checkpoints, acl, conflicts, rejected, peers] = await Promise.all([
    api("/v1/status"), api(`/v1/log/${path}?limit=40`), api(`/v1/checkpoints/${path}`), api(`/v1/acl/${path}`),
    api(`/v1/conflicts/${path}`), api(`/v1/rejected/${path}`), api("/v1/peers")]);
  const db = (status.databases || []).find((d) => d.name === name) || {};
  const lag = (peers.peers || []).map((p) => [short(p.peer_id, 20), (p.lag || {})[name] ?? "–"]);
  show(
    el("h1", {}, "Database ", el("span", { id: "db-name" }, name)),
    el("p", {}, el("a", { href: "#/feed/" + path, id: "feed-link" }, "Live change feed →")),
    el("dl", { id: "db-summary" },
      el("dt", {}, "Entries"), el("dd", { id: "db-entries" }, log.total),
      el("dt", {}, "Heads"), el("dd", { id: "db-heads", class: "mono" }, (log.heads || []).map((h) => short(h, 24)).join(" ")),
      el("dt", {}, "Missing ancestors"), el("dd", { id: "db-missing" }, db.missing ?? 0)),
    el("h2", {}, "Lag of each peer (our entries it lacked at its last heads)"),
    table("lag", ["Peer", "Entries behind"], lag, "No peer."),
    el("h2", {}, "Log (newest 40 entries)"),
    dag(log.entries || []),
    el("h2", {}, "Checkpoints"),
    table("checkpoints", ["Seq", "Proposal", "By", "Entries", "Rows", "Final", "Signers"],
      (checkpoints.chain || []).concat(checkpoints.candidates || []).map((c) => [c.seq, el("span", { class: "mono" }, short(c.cid, 20)),
        short(c.author, 16), c.entries, c.rows, c.final ? "yes" : "no", (c.signers || []).length]),
      "No checkpoint yet."),
    el("h2", {}, "Access rules"),
    el("dl", { id: "acl" },
      el("dt", {}, "Controlled"), el("dd", { id: "acl-controlled" }, acl.controlled ? "yes (rules in the log)" : "no: anyone may write"),
      el("dt", {}, "Owners"), el("dd", { id: "acl-owners", class: "mono" }, acl.owners.join(" ") || "–"),
      el("dt", {}, "Encrypted"), el("dd", {}, acl.encrypted ? "yes, readers: " + acl.readers.length : "no")),
    table("grants", ["Peer", "Table", "Column", "Privilege"],
      acl.grants.map((g) => [short(g.peer, 20), g.table ?? "*", g.column ?? "*", g.privilege]), "No grant."),
    el("h2", {}, "Conflicts"),
    table("conflicts", ["Kind", "Table", "Key", "Subject", "Lost values", "Clock"],
      conflicts.conflicts.map((c) => [c.kind, c.table, c.key, c.subject, c.lost, c.clock]), "No conflict recorded."),
    el("h2", {}, "Rejected entries"),
    table("rejected", ["Entry", "Reason"],
      rejected.rejected.map((r) => [el("span", { class: "mono" }, short(r.cid, 24)), r.reason]), "No entry rejected."),
  );
}

function dag(entries) {
  // Lamport time left to right, one lane per author; an edge per parent shown here.
  if (!entries.length) return el("p", { id: "dag", class: "muted" }, "The log is empty.");
  const authors = [...new Set(entries.map((e) => e.author))];
  const times = entries.map((e) => e.clock);
  const low = Math.min(...times), high = Math.max(...times);
  const step = 34, lane = 46, left = 200, top = 24;
  const width = left + (high - low + 1) * step + 30, height = top + authors.length * lane + 10;
  const at = new Map();
  entries.forEach((e) => at.set(e.cid, { x: left + (e.clock - low) * step, y: top + authors.indexOf(e.author) * lane }));
  const parts = authors.map((a, i) => svg("text", { x: 6, y: top + i * lane + 4, class: "lane" }, short(a, 20)));
  for (const e of entries) {
    const to = at.get(e.cid);
    for (const p of e.parents) {
      const from = at.get(p);
      if (from) parts.push(svg("line", { class: "edge" + (e.parents.length > 1 ? " merge" : ""), x1: from.x, y1: from.y, x2: to.x, y2: to.y }));
    }
  }
  for (const e of entries) {
    const { x, y } = at.get(e.cid);
    parts.push(svg("g", { class: "entry", "data-cid": e.cid },
      svg("title", {}, `${e.cid}\nclock ${e.clock}, ${e.ops} ops, parents ${e.parents.length}`),
      svg("circle", { cx: x, cy: y, r: 7, fill: e.parents.length > 1 ? "#d98b7c" : "#7fa8d6", stroke: "#2f6fb2" })));
  }
  return svg("svg", { id: "dag", width, height, viewBox: `0 0 ${width} ${height}` }, parts);
}

async function feedPage(name) {
  const path = encodeURIComponent(name);
  const status = await api("/v1/status");
  const db = (status.databases || []).find((d) => d.name === name);
  const last = db && db.changes ? db.changes.last_id : 0;
  const list = el("ol", { id: "feed", reversed: "" });
  show(el("h1", {}, "Changes of ", el("span", { id: "db-name" }, name)),
    el("p", { class: "muted" }, "Live: the newest 50 changes, then every change as it commits (NDJSON stream of /v1/changes)."),
    list);
  const controller = new AbortController();
  feedAbort = controller;
  const from = Math.max(0, last - 50);
  const response = await fetch(`/v1/changes?db=${path}&from=${from}`, { headers: headers(), signal: controller.signal });
  if (response.status === 401) throw new Unauthorized("this node's API needs its bearer token");
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (!line) continue;  // heartbeat
      const change = JSON.parse(line);
      list.prepend(el("li", { "data-change": change.id },
        `#${change.id} ${change.op} ${change.table} ${JSON.stringify(change.pk)} `,
        change.op === "delete" ? "" : JSON.stringify(change.row),
        el("span", { class: "muted" }, ` by ${short(change.author, 14)} at clock ${change.clock}`)));
    }
  }
}

function tokenForm(message) {
  const input = el("input", { type: "password", name: "token", placeholder: "bearer token", id: "token" });
  const form = el("form", { class: "token" }, el("p", { class: "warn" }, message), input, " ", el("button", { type: "submit" }, "Use"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value);
    route();
  });
  show(form);
}

async function route() {
  if (feedAbort) { feedAbort.abort(); feedAbort = null; }
  const hash = location.hash.replace(/^#/, "") || "/";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.getAttribute("href") === "#" + hash);
  try {
    const status = await api("/v1/status");
    document.getElementById("self").textContent = "peer " + short(status.peer_id, 24);
    document.getElementById("db-links").replaceChildren(...(status.databases || []).map((d) =>
      el("a", { href: "#/db/" + encodeURIComponent(d.name) }, d.name)));
    document.title = "P2PDB " + short(status.peer_id, 16);
    const [page, arg] = [hash.split("/")[1] || "", decodeURIComponent(hash.split("/").slice(2).join("/"))];
    if (page === "peers") await peersPage();
    else if (page === "db" && arg) await databasePage(arg);
    else if (page === "feed" && arg) await feedPage(arg);
    else await nodePage();
  } catch (error) {
    if (error instanceof Unauthorized) tokenForm(error.message);
    else if (error.name !== "AbortError") show(el("p", { class: "warn", id: "error" }, "Error: " + error.message));
  }
}

window.addEventListener("hashchange", route);
route();
