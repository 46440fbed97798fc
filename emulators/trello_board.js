/*
 * The Trello emulator's board page (trello_ui.board_page): lists and cards refreshed every second, and
 * the host side of the enabled Power-Up (see emulators/trello_powerup.py and powerup_client.js).
 */
'use strict';
const BOARD = document.body.dataset.board;
const MARK = 'trello-emulator-powerup';
let last = "", STATE = null;
const esc = s => String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",
  '"':"&quot;","'":"&#39;"}[c]));
const $ = id => document.getElementById(id);
async function act(payload) {
  const r = await fetch(`/_emulator/ui/boards/${BOARD}/action`, {method: "POST",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify(payload)});
  if (!r.ok) alert(await r.text());
  last = ""; await refresh();
}

// ------------------------------------------------------------------ the Power-Up's host side
// Trello frames the Power-Up's connector page hidden, calls its capabilities by postMessage and
// answers the calls its `t` makes (card, board, jwt, sizeTo, popup...), as Trello's board does.
const PU = {cfg: null, origin: null, frame: null, ready: false, caps: [], seq: 0, waiting: {},
            badges: {}, sigs: {}, timers: {}, store: {}, detail: null};
function puContext(extra) {
  return Object.assign({host: location.origin, board: BOARD, member: PU.cfg.member && PU.cfg.member.id,
                        connector: PU.cfg.connector_url, signedIn: true}, extra || {});
}
function puSend(target, message) { message.mark = MARK; target.postMessage(message, PU.origin); }
function puCall(type, fields) {
  if (!PU.ready) return Promise.reject(new Error('Power-Up not loaded'));
  const id = 'h' + (++PU.seq);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { delete PU.waiting[id]; reject(new Error('Power-Up did not answer')); }, 15000);
    PU.waiting[id] = {resolve: v => { clearTimeout(timer); resolve(v); },
                      reject: e => { clearTimeout(timer); reject(e); }};
    puSend(PU.frame.contentWindow, Object.assign({type, id}, fields));
  });
}
const invoke = (capability, context) => PU.caps.includes(capability)
  ? puCall('invoke', {capability, context: puContext(context)}) : Promise.resolve(null);
const runCallback = (ref, context) => puCall('callback', {callback: ref.__callback, context: puContext(context)});
function pick(model, fields) {
  if (!fields || !fields.length || fields.includes('all')) return Object.assign({}, model);
  const out = {}; fields.forEach(f => { out[f] = model[f]; }); return out;
}
function cardModel(id) { const c = STATE && STATE.cards.find(c => c.id === id); if (!c) throw new Error('card not found'); return c; }
function frameOf(source) {
  return [...document.querySelectorAll('iframe')].find(f => f.contentWindow === source) || null;
}
const REQUESTS = {
  card: (p, ctx) => pick(cardModel(ctx.card), p.fields),
  cards: (p) => STATE.cards.filter(c => !c.closed).map(c => pick(c, p.fields)),
  board: (p) => pick(Object.assign({}, STATE.board, {id: BOARD}), p.fields),
  list: (p, ctx) => pick(STATE.lists.find(l => l.id === cardModel(ctx.card).idList) || {}, p.fields),
  lists: (p) => STATE.lists.filter(l => !l.closed).map(l => pick(l, p.fields)),
  member: (p) => pick(PU.cfg.member || {}, p.fields),
  jwt: async (p, ctx) => {
    const r = await fetch('/_emulator/powerup/jwt', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({board: BOARD, card: ctx.card || null, state: p.state})});
    if (!r.ok) throw new Error(await r.text());
    return (await r.json()).jwt;
  },
  sizeTo: (p, ctx, source) => { const f = frameOf(source); if (f) f.style.height = Math.max(p.height, 20) + 'px'; },
  popup: (p) => showPopup(p),
  closePopup: () => { $('popup').hidden = true; $('popup').innerHTML = ''; },
  alert: (p) => showAlert(p.message, p.display, p.duration),
  hideAlert: () => { $('alert').hidden = true; },
  navigate: (p) => { if (p.url) window.open(p.url, '_blank', 'noopener'); },
  showCard: (p) => openCard(p.card),
  get: (p, ctx) => PU.store[storeKey(p, ctx)],
  set: (p, ctx) => { PU.store[storeKey(p, ctx)] = p.value; },
};
function storeKey(p, ctx) { return [p.scope, p.scope === 'card' ? ctx.card : BOARD, p.visibility, p.key].join(':'); }
window.addEventListener('message', event => {
  const d = event.data;
  if (!PU.cfg || event.origin !== PU.origin || !d || d.mark !== MARK) return;
  if (d.type === 'ready' && PU.frame && event.source === PU.frame.contentWindow) {
    PU.ready = true; PU.caps = d.capabilities || []; powerUpReady();
  } else if (d.type === 'result' && PU.waiting[d.id]) {
    const w = PU.waiting[d.id]; delete PU.waiting[d.id];
    if (d.error) w.reject(new Error(d.error)); else w.resolve(d.value);
  } else if (d.type === 'request') {
    const handler = REQUESTS[d.method];
    Promise.resolve().then(() => { if (!handler) throw new Error('unsupported: ' + d.method);
                                   return handler(d.params || {}, d.context || {}, event.source); })
      .then(value => puSend(event.source, {type: 'response', id: d.id, value: value === undefined ? null : value}),
            err => puSend(event.source, {type: 'response', id: d.id, error: String(err.message || err)}));
  }
});
async function startPowerUp() {
  let r;
  try { r = await fetch('/_emulator/powerup?board=' + encodeURIComponent(BOARD)); } catch (e) { return; }
  if (!r.ok) return;
  PU.cfg = await r.json();
  PU.origin = new URL(PU.cfg.connector_url).origin;
  PU.frame = document.createElement('iframe');
  PU.frame.hidden = true; PU.frame.title = PU.cfg.name + ' connector';
  PU.frame.src = PU.cfg.connector_url + '#' + encodeURIComponent(JSON.stringify({context: puContext()}));
  document.body.appendChild(PU.frame);
}
async function powerUpReady() {
  PU.sigs = {};
  if (STATE) updateBadges(STATE);
  try {
    const buttons = await invoke('board-buttons', {}) || [];
    const box = $('board-buttons'); box.innerHTML = '';
    buttons.forEach(b => {
      const button = document.createElement('button'); button.type = 'button'; button.textContent = b.text;
      button.onclick = () => b.url ? window.open(b.url, '_blank', 'noopener') : runCallback(b.callback, {});
      box.appendChild(button);
    });
  } catch (e) { console.warn('board-buttons', e); }
}
function badgeHtml(list) {
  return (list || []).filter(b => b && b.text).map(b =>
    `<span class="badge ${esc(b.color || '')}" title="${esc(b.title || PU.cfg.name)}">${esc(b.text)}</span>`).join('');
}
async function resolveBadges(list, context) {
  const out = [];
  for (const badge of list || []) {
    if (badge && badge.dynamic) out.push(Object.assign({}, badge, await runCallback(badge.dynamic, context)));
    else out.push(badge);
  }
  return out;
}
async function refreshBadges(cardId) {
  clearTimeout(PU.timers[cardId]);
  try {
    const badges = await resolveBadges(await invoke('card-badges', {card: cardId}), {card: cardId});
    PU.badges[cardId] = badges;
    const box = document.querySelector(`.badges[data-card="${cardId}"]`);
    if (box) box.innerHTML = badgeHtml(badges);
    const every = Math.max(10, ...badges.map(b => b.refresh || 0).filter(Boolean));
    PU.timers[cardId] = setTimeout(() => refreshBadges(cardId), every * 1000);
  } catch (e) { console.warn('card-badges', e); }
}
function updateBadges(state) {
  if (!PU.ready) return;
  for (const c of state.cards) {
    const sig = [c.name, c.idList, c.desc, c.closed, c.dateLastActivity].join('|');
    if (PU.sigs[c.id] !== sig) { PU.sigs[c.id] = sig; if (!c.closed) refreshBadges(c.id); }
  }
}

// ------------------------------------------------------------------ card back, popups, alerts
async function openCard(cardId) {
  PU.detail = cardId;
  const panel = $('detail');
  panel.hidden = false;
  renderDetailText();
  $('detail-badges').innerHTML = ''; $('detail-sections').innerHTML = '';
  if (!PU.ready) return;
  try {
    const detail = await resolveBadges(await invoke('card-detail-badges', {card: cardId}), {card: cardId});
    $('detail-badges').innerHTML = (detail || []).map(b =>
      `<span class="badge ${esc(b.color || '')}">${esc(b.title ? b.title + ': ' : '')}${esc(b.text || '')}</span>`).join('');
  } catch (e) { console.warn('card-detail-badges', e); }
  try {
    const section = await invoke('card-back-section', {card: cardId});
    if (!section || PU.detail !== cardId) return;
    const wrap = document.createElement('section'); wrap.className = 'pu-section';
    wrap.innerHTML = `<h4>${section.icon ? `<img alt="" src="${esc(section.icon)}">` : ''}${esc(section.title || '')}</h4>`;
    const content = section.content || {};
    if (content.type === 'iframe' && content.url) {
      const frame = document.createElement('iframe');
      frame.title = section.title || PU.cfg.name; frame.style.height = (content.height || 200) + 'px';
      frame.src = content.url; wrap.appendChild(frame);
    }
    $('detail-sections').appendChild(wrap);
  } catch (e) { console.warn('card-back-section', e); }
}
function renderDetailText() {
  if (!PU.detail || !STATE) return;
  const card = STATE.cards.find(c => c.id === PU.detail);
  if (!card) return;
  const list = STATE.lists.find(l => l.id === card.idList);
  $('detail-name').textContent = card.name;
  $('detail-list').textContent = 'in list ' + (list ? list.name : '?');
  $('detail-desc').textContent = card.desc;
}
function closeCard() {
  PU.detail = null; $('detail').hidden = true; $('detail-sections').innerHTML = '';
}
function showPopup(p) {
  const box = $('popup'); box.innerHTML = ''; box.hidden = false;
  const head = document.createElement('header'); head.textContent = p.title || ''; box.appendChild(head);
  const close = document.createElement('button'); close.textContent = '\u2715'; close.type = 'button';
  close.style.float = 'right'; close.onclick = REQUESTS.closePopup; head.appendChild(close);
  if (p.url) {
    const frame = document.createElement('iframe'); frame.src = p.url;
    frame.style.height = (p.height || 200) + 'px'; frame.title = p.title || 'Popup'; box.appendChild(frame);
  } else if (Array.isArray(p.items)) {
    p.items.forEach(item => { const b = document.createElement('button'); b.type = 'button';
      b.textContent = item.text; b.onclick = () => item.callback && runCallback(item.callback, {}); box.appendChild(b); });
  }
}
function showAlert(message, display, duration) {
  const box = $('alert'); box.textContent = message || ''; box.className = display || 'info'; box.hidden = false;
  clearTimeout(showAlert.timer);
  showAlert.timer = setTimeout(() => { box.hidden = true; }, (duration || 5) * 1000);
}

// ------------------------------------------------------------------ the board
function render(state) {
  $("title").textContent = state.board.name;
  const lists = state.lists.filter(l => !l.closed);
  const opts = id => lists.map(l =>
    `<option value="${l.id}"${l.id === id ? " selected" : ""}>${esc(l.name)}</option>`).join("");
  $("board").innerHTML = lists.map(l => {
    const cards = state.cards.filter(c => c.idList === l.id && !c.closed)
      .sort((a, b) => a.pos - b.pos);
    return `<section class="list" data-list="${esc(l.name)}"><h3>${esc(l.name)} <small>${cards.length}</small></h3>` +
      cards.map(c => `<div class="card" data-id="${c.id}"><button type="button" class="open" data-op="open">${esc(c.name)}</button>
        <div class="badges" data-card="${c.id}">${badgeHtml(PU.badges[c.id])}</div>
        <div class="desc">${esc(c.desc.split("\n").slice(0, 3).join("\n"))}</div>
        <div class="tools"><button data-op="rename">Rename</button>
        <select data-op="move" aria-label="Move ${esc(c.name)} to list">${opts(c.idList)}</select>
        <button data-op="archive">Archive</button></div></div>`).join("") +
      `<form class="add" data-list="${l.id}"><input name="name" placeholder="New card">
       <button>Add</button></form></section>`;
  }).join("");
}
async function refresh() {
  const focused = document.activeElement;
  if (focused && ["INPUT", "SELECT"].includes(focused.tagName)) return;
  const r = await fetch(`/_emulator/state?board=${BOARD}`);
  const text = await r.text();
  if (text !== last) {
    const previous = STATE && PU.detail ? JSON.stringify(STATE.cards.find(c => c.id === PU.detail)) : null;
    last = text; STATE = JSON.parse(text); render(STATE); updateBadges(STATE); renderDetailText();
    const open = PU.detail && STATE.cards.find(c => c.id === PU.detail);
    if (open && previous !== JSON.stringify(open)) {  // Trello re-renders a Power-Up's iframes when the card changes
      document.querySelectorAll('#detail-sections iframe').forEach(f => puSend(f.contentWindow, {type: 'render'}));
    }
  }
}
document.addEventListener("click", e => {
  const op = e.target.dataset && e.target.dataset.op;
  const card = e.target.closest(".card");
  if (!card || !op || e.target.tagName !== "BUTTON") return;
  if (op === "open") openCard(card.dataset.id);
  else if (op === "rename") {
    const name = prompt("New name", card.querySelector(".open").textContent);
    if (name) act({op: "rename", idCard: card.dataset.id, name});
  } else if (op === "archive") act({op: "archive", idCard: card.dataset.id});
});
document.addEventListener("change", e => {
  const card = e.target.closest(".card");
  if (card && e.target.dataset.op === "move") {
    e.target.blur(); act({op: "move", idCard: card.dataset.id, idList: e.target.value});
  }
});
document.addEventListener("submit", e => {
  e.preventDefault();
  const input = e.target.elements.namedItem("name");
  const name = input.value.trim();
  input.blur();
  if (name) act({op: "create", idList: e.target.dataset.list, name});
});
$('detail-close').onclick = closeCard;
$('detail').addEventListener('click', e => { if (e.target === $('detail')) closeCard(); });
startPowerUp(); refresh(); setInterval(refresh, 1000);
