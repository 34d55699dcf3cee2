// fabrik block explorer. Reads the peer's v0.6 REST routes (/chain,
// /chain/blocks/{n}, /transactions/{id}, /network/peers) and refreshes when
// /chain shows a new block.
//
// Every value is put into the page as text (element.append / textContent),
// never as markup: chaincode arguments are shown, not interpreted.
//
// Navigation lives in the URL fragment so a page can be linked to (and
// rendered by a headless browser): #block=<n>, #tx=<txid>, #q=<either>.
"use strict";

const LATEST = 10;
const POLL_MS = 2000;
const TX_SCAN = 200; // blocks searched back from the head to place a txid
const TX_TYPES = { 1: "deploy", 2: "invoke", 3: "query", 4: "terminate" };

const byId = (id) => document.getElementById(id);

// ---- DOM helpers ----------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c !== undefined && c !== null) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function link(fragment, text) {
  return el("a", { href: "#" + fragment }, text);
}

function code(text, cls) {
  return el("code", { class: cls || null }, text);
}

function replace(node, ...children) {
  node.replaceChildren(...children.filter((c) => c !== null && c !== undefined));
}

function definitions(rows) {
  const dl = el("dl");
  for (const [term, value, id] of rows) {
    const dd = el("dd", { id: id || null });
    dd.append(value instanceof Node ? value : String(value));
    dl.append(el("dt", {}, term), dd);
  }
  return dl;
}

// ---- bytes and protobuf -----------------------------------------------------

function fromBase64(s) {
  if (!s) return new Uint8Array(0);
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

// Bytes as text when they are UTF-8 without control characters, else hex.
function printable(bytes) {
  try {
    const s = utf8.decode(bytes);
    // eslint-disable-next-line no-control-regex
    if (!/[\u0000-\u0008\u000e-\u001f\u007f]/.test(s)) return s;
  } catch (_) {
    // not UTF-8
  }
  return "0x" + hex(bytes);
}

function varint(b, pos) {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (pos.i >= b.length) throw new Error("truncated varint");
    const byte = b[pos.i++];
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return value;
    scale *= 128;
    if (scale > 2 ** 63) throw new Error("varint too long");
  }
}

// The top-level fields of a protobuf message: [{no, value} | {no, bytes}].
function protoFields(b) {
  const pos = { i: 0 };
  const out = [];
  while (pos.i < b.length) {
    const key = varint(b, pos);
    const no = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) {
      out.push({ no, value: varint(b, pos) });
    } else if (wire === 2) {
      const len = varint(b, pos);
      if (pos.i + len > b.length) throw new Error("truncated field");
      out.push({ no, bytes: b.subarray(pos.i, pos.i + len) });
      pos.i += len;
    } else if (wire === 1 || wire === 5) {
      pos.i += wire === 1 ? 8 : 4;
    } else {
      throw new Error("unsupported wire type " + wire);
    }
  }
  return out;
}

const field = (fields, no) => fields.find((f) => f.no === no && f.bytes);

function chaincodeName(idBytes) {
  const f = protoFields(idBytes);
  const name = field(f, 2);
  const path = field(f, 1);
  if (name && name.bytes.length) return printable(name.bytes);
  return path ? printable(path.bytes) : "";
}

// What a transaction calls: chaincode, function (args[0]) and the other
// args. The payload is a ChaincodeDeploymentSpec (deploy) or a
// ChaincodeInvocationSpec; both hold the ChaincodeSpec as field 1.
function decodeCall(tx) {
  const call = { chaincode: "", fn: "", args: [], problem: "" };
  try {
    call.chaincode = chaincodeName(fromBase64(tx.chaincodeID));
    const specField = field(protoFields(fromBase64(tx.payload)), 1);
    if (specField) {
      const spec = protoFields(specField.bytes);
      const id = field(spec, 2);
      if (!call.chaincode && id) call.chaincode = chaincodeName(id.bytes);
      const ctor = field(spec, 3);
      const args = ctor ? protoFields(ctor.bytes).filter((f) => f.no === 1 && f.bytes) : [];
      const text = args.map((a) => printable(a.bytes));
      call.fn = text.length ? text[0] : "";
      call.args = text.slice(1);
    }
  } catch (e) {
    call.problem = "payload not decodable: " + e.message;
  }
  return call;
}

// ---- formatting -----------------------------------------------------------

function time(ts) {
  if (!ts || ts.seconds === undefined) return "–";
  const d = new Date(Number(ts.seconds) * 1000 + Math.floor((ts.nanos || 0) / 1e6));
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function commitTime(block) {
  return time(block.nonHashData && block.nonHashData.localLedgerCommitTimestamp);
}

function txType(tx) {
  return TX_TYPES[tx.type] || "type " + (tx.type || 0);
}

function argList(args) {
  if (!args.length) return el("span", { class: "muted" }, "none");
  const ul = el("ul", { class: "args" });
  for (const a of args) ul.append(el("li", {}, code(a, "arg")));
  return ul;
}

// ---- API ----------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path) {
  let r;
  try {
    r = await fetch(path, { headers: { accept: "application/json" }, cache: "no-store" });
  } catch (e) {
    throw new ApiError(0, "the peer at " + location.host + " does not answer (" + e.message + ")");
  }
  let body = null;
  try {
    body = await r.json();
  } catch (_) {
    // error bodies are JSON; anything else is reported by status
  }
  if (!r.ok) throw new ApiError(r.status, (body && body.Error) || "HTTP " + r.status + " from " + path);
  return body;
}

const blockCache = new Map();

async function getBlock(n) {
  if (blockCache.has(n)) return blockCache.get(n);
  const b = await api("/chain/blocks/" + n);
  if (blockCache.size > 500) blockCache.clear();
  blockCache.set(n, b);
  return b;
}

// A block's own hash is not in its JSON: it is the next block's
// previousBlockHash, or /chain's currentBlockHash for the head.
async function blockHash(n, chain) {
  if (n === chain.height - 1) return chain.currentBlockHash || "";
  const next = await getBlock(n + 1);
  return next.previousBlockHash || "";
}

// ---- state and rendering --------------------------------------------------

let chain = null;

function showError(message) {
  const box = byId("error");
  if (message) {
    replace(box, message);
    box.hidden = false;
  } else {
    replace(box);
    box.hidden = true;
  }
}

async function renderChain() {
  let info;
  try {
    info = await api("/chain");
  } catch (e) {
    if (e.status === 400) {
      chain = { height: 0 };
      replace(byId("height"), "0");
      showError(e.message);
      return;
    }
    throw e;
  }
  chain = info;
  replace(byId("height"), String(info.height));
  replace(byId("current-hash"), info.currentBlockHash || "");
  const top = info.height - 1;
  const numbers = [];
  for (let n = top; n >= 0 && n > top - LATEST; n--) numbers.push(n);
  const blocks = await Promise.all(numbers.map(getBlock));
  const rows = blocks.map((b, i) => {
    const n = numbers[i];
    const hash = i === 0 ? info.currentBlockHash : blocks[i - 1].previousBlockHash;
    const txs = (b.transactions || []).length;
    return el(
      "tr",
      { "data-block": n },
      el("td", { class: "num" }, link("block=" + n, String(n))),
      el("td", { class: "hash" }, code(hash || "")),
      el("td", { class: "n txs" }, String(txs)),
      el("td", { class: "time" }, commitTime(b)),
    );
  });
  replace(byId("blocks"), ...rows);
}

async function renderPeers() {
  let list;
  try {
    list = (await api("/network/peers")).peers || [];
  } catch (e) {
    replace(byId("peers"), el("tr", {}, el("td", { colspan: 3 }, e.message)));
    return;
  }
  replace(byId("peer-count"), String(list.length));
  const kinds = { 1: "validator", 2: "non-validator" };
  replace(
    byId("peers"),
    ...list.map((p) =>
      el(
        "tr",
        { "data-peer": (p.ID && p.ID.name) || "" },
        el("td", {}, (p.ID && p.ID.name) || "–"),
        el("td", {}, code(p.address || "")),
        el("td", {}, kinds[p.type] || "–"),
      ),
    ),
  );
}

function detailSection(kind, attrs, title, ...children) {
  const section = byId("detail");
  section.setAttribute("data-kind", kind);
  for (const a of ["data-block", "data-txid", "data-found"]) section.removeAttribute(a);
  for (const [k, v] of Object.entries(attrs)) section.setAttribute(k, String(v));
  replace(section, el("h2", {}, title), ...children);
}

function eventsByTx(block) {
  const events = new Map();
  const list = (block.nonHashData && block.nonHashData.chaincodeEvents) || [];
  for (const ev of list) if (ev.txID && ev.eventName) events.set(ev.txID, ev);
  return events;
}

function resultText(ev) {
  let text = "committed";
  if (ev) text += "; event " + ev.eventName + (ev.payload ? " (" + printable(fromBase64(ev.payload)) + ")" : "");
  return text;
}

async function showBlock(n) {
  if (chain && n >= chain.height) {
    detailSection("block", { "data-block": n, "data-found": "false" }, "Block " + n,
      el("p", { class: "notfound" },
        "Block " + n + " does not exist: the chain has height " + chain.height +
        " (blocks 0 to " + (chain.height - 1) + ")."));
    return;
  }
  let b;
  try {
    b = await getBlock(n);
  } catch (e) {
    detailSection("block", { "data-block": n, "data-found": "false" }, "Block " + n,
      el("p", { class: "notfound" }, e.message));
    return;
  }
  const hash = await blockHash(n, chain);
  const txs = b.transactions || [];
  const events = eventsByTx(b);
  const rows = txs.map((tx) => {
    const call = decodeCall(tx);
    return el(
      "tr",
      { "data-txid": tx.txid || "" },
      el("td", { class: "txid" }, link("tx=" + encodeURIComponent(tx.txid || ""), tx.txid || "–")),
      el("td", {}, txType(tx)),
      el("td", { class: "chaincode" }, call.chaincode),
      el("td", { class: "function" }, call.problem || call.fn),
      el("td", {}, argList(call.args)),
      el("td", { class: "result" }, resultText(events.get(tx.txid))),
    );
  });
  const table = txs.length
    ? el("table", { class: "txs", id: "block-txs" },
        el("thead", {}, el("tr", {}, ...["Txid", "Type", "Chaincode", "Function", "Args", "Result"].map((h) => el("th", {}, h)))),
        el("tbody", {}, ...rows))
    : el("p", { class: "muted" }, n === 0 ? "The genesis block has no transactions." : "No transactions.");
  const nav = el("p", { class: "nav" },
    n > 0 ? link("block=" + (n - 1), "← block " + (n - 1)) : null,
    " ",
    n + 1 < chain.height ? link("block=" + (n + 1), "block " + (n + 1) + " →") : null);
  detailSection("block", { "data-block": n, "data-found": "true" }, "Block " + n,
    definitions([
      ["Hash", code(hash, "hash"), "block-hash"],
      ["Previous hash", code(b.previousBlockHash || "none", "hash"), "block-previous-hash"],
      ["State hash", code(b.stateHash || "", "hash"), "block-state-hash"],
      ["Committed", commitTime(b), "block-time"],
      ["Transactions", String(txs.length), "block-tx-count"],
    ]),
    table,
    nav);
}

// The block holding `txid`, searched back from the head (TX_SCAN blocks).
async function findTxBlock(txid) {
  for (let n = chain.height - 1; n > 0 && n >= chain.height - TX_SCAN; n--) {
    const b = await getBlock(n);
    if ((b.transactions || []).some((t) => t.txid === txid)) return { n, block: b };
  }
  return null;
}

async function showTx(txid) {
  let tx;
  try {
    tx = await api("/transactions/" + encodeURIComponent(txid));
  } catch (e) {
    const hint = e.status === 404
      ? " It is not in the ledger: it may still be waiting for its block, or it was rejected (rejected transactions are not stored; watch GET /events?type=rejection)."
      : "";
    detailSection("tx", { "data-txid": txid, "data-found": "false" }, "Transaction",
      el("p", { class: "notfound" }, e.message + hint));
    return;
  }
  const call = decodeCall(tx);
  const found = await findTxBlock(tx.txid);
  const where = found
    ? link("block=" + found.n, "block " + found.n)
    : el("span", { class: "muted" }, "not among the last " + TX_SCAN + " blocks");
  const ev = found ? eventsByTx(found.block).get(tx.txid) : null;
  detailSection("tx", { "data-txid": tx.txid, "data-found": "true" }, "Transaction",
    definitions([
      ["Txid", code(tx.txid || ""), "tx-id"],
      ["Type", txType(tx), "tx-type"],
      ["Chaincode", call.chaincode, "tx-chaincode"],
      ["Function", call.problem || call.fn, "tx-function"],
      ["Args", argList(call.args), "tx-args"],
      ["Submitted", time(tx.timestamp), "tx-time"],
      ["Block", where, "tx-block"],
      ["Result", resultText(ev), "tx-result"],
    ]));
}

function route() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  let block = params.get("block");
  let tx = params.get("tx");
  const q = (params.get("q") || "").trim();
  if (q) {
    if (/^\d+$/.test(q)) block = q;
    else tx = q;
  }
  if (block !== null && /^\d+$/.test(block.trim())) return { block: Number(block.trim()) };
  if (tx) return { tx };
  if (block !== null) return { bad: "Block number must be a whole number, not " + JSON.stringify(block) + "." };
  return {};
}

async function renderDetail() {
  const r = route();
  if (r.block !== undefined) await showBlock(r.block);
  else if (r.tx !== undefined) await showTx(r.tx);
  else if (r.bad) detailSection("none", {}, "Details", el("p", { class: "notfound" }, r.bad));
  else if (chain && chain.height > 0) await showBlock(chain.height - 1);
}

// ---- refresh loop -------------------------------------------------------------

let busy = false;
let again = false;

async function refresh() {
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  try {
    do {
      again = false;
      await renderChain();
      await Promise.all([renderPeers(), renderDetail()]);
      showError(null);
      document.body.setAttribute("data-state", "ready");
      document.body.setAttribute("data-height", String(chain.height));
    } while (again);
  } catch (e) {
    showError("Cannot read the chain: " + e.message);
    document.body.setAttribute("data-state", "error");
  } finally {
    busy = false;
  }
}

function setLive(mode, text) {
  const live = byId("live");
  live.setAttribute("data-mode", mode);
  replace(live, text);
}

// New blocks are found by polling /chain (one small request) rather than
// holding GET /events open: a page left open in many tabs then costs the
// peer no event subscribers, and tools that render the page (headless
// browsers, which wait until no request is pending) can take a snapshot.
async function poll() {
  try {
    const info = await api("/chain");
    setLive("live", "live · checks every " + POLL_MS / 1000 + " s");
    if (!chain || info.height !== chain.height || info.currentBlockHash !== chain.currentBlockHash) {
      await refresh();
    }
  } catch (e) {
    if (e.status === 400 && chain && chain.height === 0) return;
    setLive("offline", "peer not answering");
    showError("Cannot read the chain: " + e.message);
  }
}

function follow() {
  setLive("live", "live · checks every " + POLL_MS / 1000 + " s");
  setInterval(poll, POLL_MS);
}

function search(ev) {
  ev.preventDefault();
  const q = byId("search").value.trim();
  if (!q) return;
  location.hash = /^\d+$/.test(q) ? "block=" + q : "tx=" + encodeURIComponent(q);
}

byId("search-form").addEventListener("submit", search);
window.addEventListener("hashchange", async () => {
  try {
    await renderDetail();
  } catch (e) {
    showError(e.message);
  }
});

refresh().then(follow);
