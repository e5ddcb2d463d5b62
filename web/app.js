// nfp-node web interface: a small single-page app over the node's local
// API. Every call carries the operator's own bearer token, kept in
// sessionStorage only; the API decides what each role may see. Elements
// are built with textContent, never innerHTML, so no text from a form or a
// peer can become markup.
'use strict';

(function () {
  const TOKEN_KEY = 'nfp-token';
  const LANG_KEY = 'nfp-lang';
  const SEND_ROLES = ['operator', 'case-manager', 'admin'];

  const state = {
    me: null,
    labels: null,
    kinds: null,
  };

  // ---------- small helpers ----------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function badge(text, cls) {
    return h('span', { class: 'badge ' + (cls || text || '') }, text || '—');
  }

  function when(t) {
    if (!t) return '—';
    const d = new Date(t);
    if (isNaN(d.getTime())) return t;
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z').replace(/:\d\dZ$/, ' UTC');
  }

  function relative(t) {
    if (!t) return '';
    const ms = new Date(t).getTime() - Date.now();
    const abs = Math.abs(ms);
    const units = [['day', 86400000], ['hour', 3600000], ['minute', 60000]];
    for (const [name, size] of units) {
      if (abs >= size) {
        const n = Math.round(abs / size);
        const s = n + ' ' + name + (n === 1 ? '' : 's');
        return ms < 0 ? s + ' ago' : 'in ' + s;
      }
    }
    return ms < 0 ? 'just now' : 'in under a minute';
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function lang() {
    return sessionStorage.getItem(LANG_KEY) || 'en';
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || ('HTTP ' + status));
      this.status = status;
      this.code = (body && body.code) || 'http-' + status;
      this.fields = (body && body.fields) || [];
    }
  }

  async function api(method, path, body) {
    const headers = { 'Authorization': 'Bearer ' + (token() || '') };
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, { code: 'unreachable', message: 'The node does not answer. Is it running?' });
    }
    let data = null;
    const text = await res.text();
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = { message: text }; }
    }
    if (!res.ok) {
      const err = new ApiError(res.status, data);
      if (res.status === 401 && path !== '/v1/whoami') {
        signOut('Your session has ended: the token is no longer accepted.');
      }
      throw err;
    }
    return data;
  }

  // Streams a file to the node, which seals it as it arrives; returns the
  // upload to name in the message.
  async function upload(to, file) {
    const type = file.type || 'application/octet-stream';
    const path = '/v1/attachments?to=' + encodeURIComponent(to) + '&name=' +
      encodeURIComponent(file.name) + '&type=' + encodeURIComponent(type);
    let res;
    try {
      res = await fetch(path, {
        method: 'POST', cache: 'no-store', credentials: 'omit', body: file,
        headers: { 'Authorization': 'Bearer ' + (token() || ''), 'Content-Type': 'application/octet-stream' },
      });
    } catch (e) {
      throw new ApiError(0, { code: 'unreachable', message: 'The node does not answer. Is it running?' });
    }
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { message: text }; }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  function kindLabel(kind) {
    return (state.labels && state.labels.kinds[kind]) || kind;
  }

  function codeLabel(code) {
    return (state.labels && state.labels.codes[code]) || code;
  }

  // The label of a field of `kind` at `path` (indices removed), as the
  // catalogue defines it: a kind-specific label wins over the shared one.
  function fieldLabel(kind, path) {
    const plain = path.replace(/\[\d+\]/g, '');
    const f = (state.labels && state.labels.fields) || {};
    if (f[kind + ':' + plain]) return f[kind + ':' + plain];
    if (f[plain]) return f[plain];
    const last = plain.split('.').pop() || plain;
    return last.replace(/_/g, ' ');
  }

  function word(w, fallback) {
    return (state.labels && state.labels.words && state.labels.words[w]) || fallback;
  }

  function mayWrite() {
    return state.me && SEND_ROLES.includes(state.me.role);
  }

  function errorBox(e, title) {
    const box = h('div', { class: 'notice bad', role: 'alert' },
      h('h3', { text: title || 'Something went wrong' }),
      h('p', { text: e.message }));
    if (e.code) box.append(h('p', { class: 'small muted', text: 'code: ' + e.code }));
    return box;
  }

  // Only the latest navigation may draw: a slow page must not replace
  // the one the operator has moved on to.
  let generation = 0;

  function setViewFor(gen, ...children) {
    if (gen === generation) setView(...children);
  }

  function setView(...children) {
    const view = document.getElementById('view');
    view.replaceChildren(...children);
  }

  function section(title, ...children) {
    return h('section', { class: 'card' }, h('h2', { text: title }), ...children);
  }

  function table(headers, rows, empty) {
    if (!rows.length) return h('p', { class: 'empty', text: empty || 'Nothing to show.' });
    return h('table', {},
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', { text: t })))),
      h('tbody', {}, rows));
  }

  // ---------- sign-in and shell ----------

  function signOut(reason) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.me = null;
    state.labels = null;
    state.kinds = null;
    document.getElementById('nav').hidden = true;
    document.getElementById('who').hidden = true;
    document.getElementById('node-name').textContent = 'nfp-node';
    renderSignIn(reason);
    if (location.hash !== '#/signin') history.replaceState(null, '', '#/signin');
  }

  function renderSignIn(reason) {
    const input = h('input', {
      type: 'password', id: 'token', name: 'token', autocomplete: 'off',
      spellcheck: 'false', placeholder: '64 hexadecimal characters', required: true,
    });
    const status = h('div', { id: 'signin-status' });
    if (reason) status.append(h('div', { class: 'notice warn', text: reason }));
    const form = h('form', { class: 'card signin', id: 'signin-form' },
      h('h1', { text: 'Sign in' }),
      h('p', {}, 'Paste your personal token. Your administrator gave it to you when your account was made (',
        h('code', { text: 'nfp-node user add' }), '). The node administrator\u2019s own token is in ',
        h('code', { text: 'HOME/keys/api.token' }), '.'),
      h('label', { class: 'field' }, h('span', { class: 'label', text: 'Token' }), input),
      h('p', { class: 'small muted', text: 'The token stays in this browser tab only and is forgotten when you close it.' }),
      h('div', { class: 'row' }, h('button', { type: 'submit', id: 'signin-button', text: 'Sign in' })),
      status);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const t = input.value.trim();
      if (!t) return;
      sessionStorage.setItem(TOKEN_KEY, t);
      try {
        await loadSession();
        location.hash = '#/dashboard';
        route();
      } catch (e) {
        sessionStorage.removeItem(TOKEN_KEY);
        status.replaceChildren(errorBox(e.status === 401
          ? new ApiError(401, { code: 'unauthorized', message: 'This token is not accepted: it is wrong, or the account was revoked.' })
          : e, 'Not signed in'));
      }
    });
    setView(form);
    input.focus();
  }

  async function loadSession() {
    state.me = await api('GET', '/v1/whoami');
    const langs = state.me.languages || ['en'];
    if (!langs.includes(lang())) sessionStorage.setItem(LANG_KEY, 'en');
    state.labels = await api('GET', '/v1/labels/' + encodeURIComponent(lang()));
    state.kinds = (await api('GET', '/v1/forms?lang=' + encodeURIComponent(lang()))).kinds;
    document.getElementById('node-name').textContent = state.me.node + ' (' + state.me.country + ')';
    document.getElementById('who-name').textContent = state.me.name;
    document.getElementById('who-role').textContent = state.me.role;
    const sel = document.getElementById('lang-select');
    sel.replaceChildren(...langs.map((l) => h('option', { value: l, selected: l === lang() }, l)));
    document.getElementById('nav').hidden = false;
    document.getElementById('who').hidden = false;
  }

  function markNav(name) {
    for (const a of document.querySelectorAll('#nav a')) {
      a.classList.toggle('active', a.dataset.nav === name);
    }
  }

  // ---------- router ----------

  async function route() {
    const hash = location.hash || '#/dashboard';
    const [pathPart, queryPart] = hash.slice(1).split('?');
    const parts = pathPart.split('/').filter(Boolean).map(decodeURIComponent);
    const query = new URLSearchParams(queryPart || '');
    if (!token()) { markNav(''); renderSignIn(); return; }
    if (!state.me) {
      try { await loadSession(); } catch (e) {
        if (e.status === 401) { signOut('Please sign in again.'); return; }
        setView(errorBox(e, 'Cannot reach the node'));
        return;
      }
    }
    const gen = ++generation;
    const page = parts[0] || 'dashboard';
    markNav(page);
    setView(h('p', { class: 'muted', text: 'Loading…' }));
    try {
      if (page === 'signin') { location.hash = '#/dashboard'; return; }
      if (page === 'dashboard') await renderDashboard(gen);
      else if (page === 'cases' && parts[1]) await renderCase(gen, parts[1]);
      else if (page === 'cases') await renderCases(gen);
      else if (page === 'compose') await renderCompose(gen, query);
      else if (page === 'agreements') await renderAgreements(gen);
      else if (page === 'audit') await renderAudit(gen);
      else setView(h('h1', { text: 'Not found' }), h('p', {}, h('a', { href: '#/dashboard', text: 'Back to the dashboard' })));
    } catch (e) {
      if (e.status === 401) return;
      setViewFor(gen, errorBox(e, 'This page could not be loaded'));
    }
    if (gen === generation) document.getElementById('view').focus({ preventScroll: true });
  }

  // ---------- dashboard ----------

  function deadlineRows(list) {
    return list.map((d) => h('tr', { class: 'clickable', onclick: () => { location.hash = '#/cases/' + encodeURIComponent(d.case); } },
      h('td', {}, d.direction === 'owed' ? badge('we owe', 'owed') : badge(d.peer + ' owes', '')),
      h('td', {}, h('a', { href: '#/cases/' + encodeURIComponent(d.case), text: d.case })),
      h('td', { text: kindLabel(d.kind) + (d.schedule ? ' (' + d.schedule + ')' : '') }),
      h('td', { text: d.peer }),
      h('td', {}, when(d.due), h('div', { class: 'small muted', text: relative(d.due) })),
      h('td', {}, badge(d.state), d.lane === 'urgent' ? ' ' : null, d.lane === 'urgent' ? badge('urgent', 'bad') : null)));
  }

  async function renderDashboard(gen) {
    const [dl, msgs, peers] = await Promise.all([
      api('GET', '/v1/deadlines'),
      api('GET', '/v1/messages'),
      api('GET', '/v1/peers'),
    ]);
    const open = dl.deadlines.filter((d) => d.state === 'overdue' || d.state === 'due-soon');
    const overdue = open.filter((d) => d.state === 'overdue');
    const soon = open.filter((d) => d.state === 'due-soon');
    const pending = dl.deadlines.filter((d) => d.state === 'pending');
    const weekAgo = Date.now() - 14 * 86400000;
    const inbound = msgs.messages
      .filter((m) => m.direction === 'in' && new Date(m.received || m.stored).getTime() >= weekAgo)
      .sort((a, b) => String(b.received || b.stored).localeCompare(String(a.received || a.stored)))
      .slice(0, 12);
    const dueOf = new Map(dl.deadlines.map((d) => [d.message, d]));
    const headers = ['who', 'case', 'kind', 'peer', 'due', 'state'];
    const children = [
      h('h1', { text: 'Dashboard' }),
      section('Overdue (' + overdue.length + ')', table(headers, deadlineRows(overdue), 'Nothing is overdue.')),
      section('Due soon (' + soon.length + ')', table(headers, deadlineRows(soon), 'Nothing is due soon.')),
      section('Other open deadlines (' + pending.length + ')', table(headers, deadlineRows(pending.slice(0, 15)), 'No other open deadline.'),
        pending.length > 15 ? h('p', { class: 'small muted', text: (pending.length - 15) + ' more are not shown.' }) : null,
        h('p', { class: 'small muted', text: 'In each list, what this NFP owes comes first, then what partners owe; the earliest due first.' })),
    ];
    if (dl.ageing_out && dl.ageing_out.length) {
      children.push(section('Children turning 18 soon',
        table(['case', '18th birthday'], dl.ageing_out.map((a) => h('tr', {},
          h('td', {}, h('a', { href: '#/cases/' + encodeURIComponent(a.case), text: a.case })),
          h('td', { text: a.eighteenth_birthday }))))));
    }
    children.push(section('New messages', table(['received', 'from', 'case', 'kind', 'answer due'],
      inbound.map((m) => {
        const d = dueOf.get(m.id);
        return h('tr', { class: 'clickable', 'data-message': m.id, onclick: () => { location.hash = '#/cases/' + encodeURIComponent(m.case); } },
          h('td', {}, when(m.received || m.stored), h('div', { class: 'small muted', text: relative(m.received || m.stored) })),
          h('td', { text: m.peer }),
          h('td', {}, h('a', { href: '#/cases/' + encodeURIComponent(m.case), text: m.case })),
          h('td', { text: kindLabel(m.kind) }),
          h('td', {}, m.due ? when(m.due) : '—', d ? ' ' : null, d ? badge(d.state) : null));
      }), 'No message arrived in the last 14 days.')));
    children.push(section('Peers', peerTable(peers.peers)));
    setViewFor(gen, ...children);
  }

  function peerTable(peers) {
    return table(['peer', 'connected', 'last contact', 'certificate expires', 'queued', 'agreement'],
      peers.map((p) => {
        const hl = p.health || {};
        const conn = hl.connected === true ? badge('connected', 'connected')
          : hl.connected === false ? badge('not connected', '') : badge('unknown', '');
        return h('tr', {},
          h('td', {}, h('strong', { text: p.country }), ' ', p.name, h('div', { class: 'small muted mono', text: p.endpoint })),
          h('td', {}, conn),
          h('td', {}, hl.last_contact ? when(hl.last_contact) : 'never', hl.last_contact ? h('div', { class: 'small muted', text: relative(hl.last_contact) }) : null),
          h('td', {}, hl.certificate_expires ? when(hl.certificate_expires) : 'not known yet', hl.certificate_expires ? h('div', { class: 'small muted', text: relative(hl.certificate_expires) }) : null),
          h('td', {}, p.queued > 0 ? badge(String(p.queued), 'warn') : '0'),
          h('td', {}, p.agreement.id + ' v' + p.agreement.version));
      }), 'No peer is registered yet.');
  }

  // ---------- cases ----------

  async function renderCases(gen) {
    const [msgs, dl] = await Promise.all([api('GET', '/v1/messages'), api('GET', '/v1/deadlines')]);
    const cases = new Map();
    for (const m of msgs.messages) {
      const c = cases.get(m.case) || { case: m.case, peers: new Set(), count: 0, last: null, lastMsg: null, open: 0, overdue: 0 };
      c.peers.add(m.peer);
      c.count += 1;
      const t = m.received || m.delivered || m.stored;
      if (!c.last || t > c.last) { c.last = t; c.lastMsg = m; }
      cases.set(m.case, c);
    }
    for (const d of dl.deadlines) {
      const c = cases.get(d.case);
      if (!c) continue;
      if (d.state === 'pending' || d.state === 'due-soon' || d.state === 'overdue') c.open += 1;
      if (d.state === 'overdue') c.overdue += 1;
    }
    const list = [...cases.values()].sort((a, b) => String(b.last).localeCompare(String(a.last)));
    const children = [h('h1', { text: 'Cases' })];
    children.push(section('Cases with messages (' + list.length + ')',
      table(['case', 'peers', 'messages', 'latest', 'open deadlines'],
        list.map((c) => h('tr', { class: 'clickable', 'data-case': c.case, onclick: () => { location.hash = '#/cases/' + encodeURIComponent(c.case); } },
          h('td', {}, h('a', { href: '#/cases/' + encodeURIComponent(c.case), text: c.case })),
          h('td', { text: [...c.peers].join(', ') }),
          h('td', { text: String(c.count) }),
          h('td', {}, kindLabel(c.lastMsg.kind), ' ', badge(c.lastMsg.state), h('div', { class: 'small muted', text: when(c.last) })),
          h('td', {}, String(c.open), c.overdue ? ' ' : null, c.overdue ? badge(c.overdue + ' overdue', 'overdue') : null))),
        'You see no case yet. Cases appear here once a message about them is sent or received, and only when you are on their access list.')));
    if (mayWrite()) children.push(openCaseForm());
    setViewFor(gen, ...children);
  }

  function openCaseForm() {
    const ref = h('input', { type: 'text', id: 'new-case', name: 'case', placeholder: 'e.g. GR-2026-0001', required: true, pattern: '[A-Za-z0-9_.\\/\\-]{1,64}' });
    const nat = h('input', { type: 'text', id: 'new-nationality', maxlength: 2, placeholder: 'CC' });
    const res = h('input', { type: 'text', id: 'new-resides', maxlength: 2, placeholder: 'CC' });
    const born = h('input', { type: 'date', id: 'new-born' });
    const asylum = h('input', { type: 'checkbox', id: 'new-asylum' });
    const fears = h('input', { type: 'text', id: 'new-fears', placeholder: 'CC, CC' });
    const out = h('div', {});
    const countries = (s) => s.split(/[\s,]+/).map((x) => x.trim().toUpperCase()).filter(Boolean);
    const form = h('form', { id: 'open-case-form' },
      h('p', { class: 'small muted', text: 'A message can be sent only about a case with a case record on this node: the safeguards (asylum barrier, consents) read it. Only the facts the safeguards need are kept.' }),
      h('div', { class: 'row' },
        h('label', {}, 'Case reference', ref),
        h('label', {}, 'Nationality', nat),
        h('label', {}, 'Habitual residence', res),
        h('label', {}, 'Date of birth', born)),
      h('div', { class: 'row' },
        h('label', { class: 'checkbox' }, asylum, 'The child seeks asylum'),
        h('label', {}, 'Countries the child fears', fears)),
      h('div', { class: 'row' }, h('button', { type: 'submit', text: 'Open the case' })),
      out);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const fields = {};
      if (nat.value.trim()) fields.nationality = nat.value.trim().toUpperCase();
      if (res.value.trim()) fields.resides = res.value.trim().toUpperCase();
      if (born.value) fields.born = born.value;
      if (asylum.checked) fields.asylum = true;
      if (fears.value.trim()) fields.fears = countries(fears.value);
      try {
        await api('POST', '/v1/cases', { case: ref.value.trim(), fields });
        location.hash = '#/cases/' + encodeURIComponent(ref.value.trim());
      } catch (e) {
        const box = errorBox(e, 'The case was not opened');
        if (e.fields.length) box.append(h('ul', {}, e.fields.map((f) => h('li', { text: f.field + ': ' + f.message }))));
        out.replaceChildren(box);
      }
    });
    return section('Open a case', form);
  }

  function describeRecord(view) {
    const r = view.record;
    const asylum = r.asylum === 'none' ? 'no' : r.asylum === 'seeking' ? 'seeks asylum'
      : (r.asylum && r.asylum.refugee) ? 'refugee in ' + r.asylum.refugee.recognised_in : JSON.stringify(r.asylum);
    const birth = r.birth === 'unknown' ? 'unknown' : r.birth.date ? r.birth.date : 'about ' + r.birth['estimated-year'];
    const rows = [
      ['victim status', r.victim_status],
      ['born', birth + (view.is_child ? ' (a child)' : ' (adult)')],
      ['nationality', r.nationality || '—'],
      ['habitual residence', r.habitual_residence || '—'],
      ['asylum', asylum],
      ['protected from', view.protected_country || '—'],
      ['feared countries', (r.fears || []).join(', ') || '—'],
      ['agrees to contact', (r.agrees_contact || []).join(', ') || '—'],
      ['consents', (r.consents || []).filter((c) => !c.withdrawn).map((c) => c.purpose + ' (' + c.by + ')').join(', ') || '—'],
      ['access list', (r.access || []).join(', ') || '—'],
    ];
    if (view.ages_out_soon) rows.push(['turns 18', view.ages_out_soon]);
    return h('dl', { class: 'kv' }, rows.map(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })]));
  }

  async function renderCase(gen, ref) {
    const enc = encodeURIComponent(ref);
    const [msgs, dl] = await Promise.all([
      api('GET', '/v1/messages?case=' + enc),
      api('GET', '/v1/deadlines'),
    ]);
    let record = null;
    let recordNote = null;
    try {
      record = await api('GET', '/v1/cases/' + enc);
    } catch (e) {
      if (e.status === 404) recordNote = 'There is no case record for this case on this node yet.';
      else if (e.status === 403) recordNote = 'You may not see this case\u2019s record.';
      else throw e;
    }
    const byMessage = new Map();
    for (const d of dl.deadlines) if (d.case === ref) byMessage.set(d.message, d);
    const thread = msgs.messages.slice().sort((a, b) => String(a.id).localeCompare(String(b.id)));
    const peers = [...new Set(thread.map((m) => m.peer))];
    const children = [
      h('p', {}, h('a', { href: '#/cases', text: '\u2190 All cases' })),
      h('h1', {}, 'Case ', h('span', { class: 'mono', text: ref })),
    ];
    const actions = h('div', { class: 'row' });
    if (mayWrite()) {
      const to = peers[0] ? '&to=' + encodeURIComponent(peers[0]) : '';
      actions.append(h('a', { class: 'button', href: '#/compose?case=' + enc + to, text: 'New message in this case' }));
    }
    children.push(section('Case record', record ? describeRecord(record) : h('p', { class: 'muted', text: recordNote }), actions));
    const items = thread.map((m) => {
      const d = byMessage.get(m.id);
      const formBox = h('div', { class: 'form-view' });
      const li = h('li', { class: m.direction, 'data-message': m.id },
        h('div', { class: 'meta' },
          h('strong', { text: kindLabel(m.kind) }),
          h('span', { class: 'muted', text: m.direction === 'out' ? 'to ' + m.peer : 'from ' + m.peer }),
          badge(m.state),
          h('span', { class: 'small muted', text: m.direction === 'out'
            ? 'sent ' + when(m.stored) + (m.delivered ? ', delivered ' + when(m.delivered) : '')
            : 'received ' + when(m.received || m.stored) })),
        h('div', { class: 'meta small' },
          d ? h('span', {}, d.direction === 'owed' ? 'We owe an answer by ' : m.peer + ' owes an answer by ', h('strong', { text: when(d.due) }), ' ', badge(d.state))
            : m.due ? h('span', {}, 'Answer due ', h('strong', { text: when(m.due) })) : h('span', { class: 'muted', text: 'No answer is due.' }),
          m.reply_to ? h('span', { class: 'muted mono', text: 'answers ' + m.reply_to }) : null,
          m.last_error ? h('span', { class: 'error', text: 'last error: ' + m.last_error }) : null),
        h('div', { class: 'row' },
          h('button', { type: 'button', class: 'secondary small', onclick: (ev) => showForm(m, formBox, ev.target) }, 'Show the form'),
          mayWrite() ? h('a', { class: 'button secondary small', href: '#/compose?case=' + enc + '&to=' + encodeURIComponent(m.peer) + '&reply=' + encodeURIComponent(m.id) }, 'Reply') : null,
          mayWrite() && m.state === 'failed' ? h('button', { type: 'button', class: 'secondary small', onclick: () => retry(m) }, 'Retry') : null,
          h('span', { class: 'small muted mono', text: m.id })),
        formBox);
      return li;
    });
    children.push(section('Thread (oldest first, newest last)', items.length ? h('ol', { class: 'thread' }, items) : h('p', { class: 'empty', text: 'No message in this case yet.' })));
    setViewFor(gen, ...children);
  }

  // Fetches an attachment with the token and hands it to the browser as a
  // download; nothing is kept after.
  async function download(id, a) {
    try {
      const res = await fetch('/v1/messages/' + encodeURIComponent(id) + '/attachments/' + encodeURIComponent(a.name), {
        cache: 'no-store', credentials: 'omit', headers: { 'Authorization': 'Bearer ' + (token() || '') },
      });
      if (!res.ok) {
        let data = null;
        try { data = await res.json(); } catch (e) { data = { message: 'HTTP ' + res.status }; }
        throw new ApiError(res.status, data);
      }
      const url = URL.createObjectURL(await res.blob());
      const link = h('a', { href: url, download: a.name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) {
      alert(e.message);
    }
  }

  async function retry(m) {
    try {
      await api('POST', '/v1/messages/' + encodeURIComponent(m.id) + '/retry');
      route();
    } catch (e) {
      alert(e.message);
    }
  }

  async function showForm(m, box, button) {
    if (button) button.disabled = true;
    try {
      const shown = await api('GET', '/v1/messages/' + encodeURIComponent(m.id));
      const files = (shown.attachments || []).map((a) => h('li', { 'data-attachment': a.name },
        h('span', { text: a.name + ' (' + a.media_type + ', ' + a.size + ' bytes) ' }),
        h('button', { type: 'button', class: 'secondary small', onclick: () => download(m.id, a) }, 'Download')));
      const translations = (shown.translations || []).concat(shown.local_translations || []);
      const parts = [h('p', { class: 'small muted', text: 'Reading a form is recorded in the audit log.' }),
        renderValue(m.kind, '', shown.form)];
      if (files.length) {
        parts.push(h('div', { class: 'attachments' },
          h('h4', { text: 'Attachments (every download is recorded in the audit log)' }), h('ul', {}, files)));
      }
      if (translations.length) {
        parts.push(h('p', { class: 'small muted', text: translations.length +
          ' translation(s) go with this message; the ' + (shown.prevails === 'original' ? 'original' : shown.prevails + ' translation') +
          ' prevails. `nfp-node show` prints them beside the original.' }));
      }
      box.replaceChildren(...parts);
    } catch (e) {
      box.replaceChildren(errorBox(e, 'The form cannot be shown'));
    }
  }

  function renderValue(kind, path, v) {
    if (Array.isArray(v)) {
      if (!v.length) return h('span', { class: 'muted', text: '(none)' });
      return h('ol', {}, v.map((x, i) => h('li', {}, renderValue(kind, path + '[' + i + ']', x))));
    }
    if (v && typeof v === 'object') {
      return h('dl', { class: 'kv' }, Object.entries(v).map(([k, x]) => {
        const p = path ? path + '.' + k : k;
        return [h('dt', { text: fieldLabel(kind, p) }), h('dd', {}, renderValue(kind, p, x))];
      }));
    }
    if (v === null || v === undefined) return h('span', { class: 'muted', text: '—' });
    if (typeof v === 'boolean') return document.createTextNode(v ? 'yes' : 'no');
    if (typeof v === 'string' && state.labels && state.labels.codes[v]) return document.createTextNode(codeLabel(v));
    return document.createTextNode(String(v));
  }

  // ---------- the form rendered from a kind's JSON Schema ----------

  function makeFormBuilder(kind, root) {
    const registry = new Map(); // data path -> field element

    function resolve(s) {
      let cur = s || {};
      for (let i = 0; i < 16 && cur.$ref; i++) {
        const name = cur.$ref.split('/').pop();
        const next = root.$defs && root.$defs[name];
        if (!next) break;
        cur = Object.assign({}, next, cur.description ? { description: cur.description } : {});
        delete cur.$ref;
        if (next.$ref) cur.$ref = next.$ref;
      }
      return cur;
    }

    // Splits an optional schema into (schema, nullable).
    function unwrap(s) {
      s = resolve(s);
      if (Array.isArray(s.anyOf) && s.anyOf.length === 2) {
        const other = s.anyOf.find((a) => a.type !== 'null');
        if (other && s.anyOf.some((a) => a.type === 'null')) {
          return [Object.assign({}, resolve(other), s.description ? { description: s.description } : {}), true];
        }
      }
      if (Array.isArray(s.type) && s.type.includes('null')) {
        return [Object.assign({}, s, { type: s.type.find((t) => t !== 'null') }), true];
      }
      return [s, false];
    }

    function codesOf(s) {
      if (Array.isArray(s.enum)) return s.enum.filter((x) => typeof x === 'string');
      const alts = s.oneOf || s.anyOf;
      if (!Array.isArray(alts)) return null;
      const out = [];
      for (const a0 of alts) {
        const a = resolve(a0);
        if (typeof a.const === 'string') out.push(a.const);
        else if (Array.isArray(a.enum)) out.push(...a.enum);
        else return null;
      }
      return out;
    }

    function variantsOf(s) {
      if (!Array.isArray(s.oneOf)) return null;
      const out = [];
      for (const a0 of s.oneOf) {
        const a = resolve(a0);
        const t = a.properties && a.properties.type && a.properties.type.const;
        if (typeof t !== 'string') return null;
        out.push([t, a]);
      }
      return out;
    }

    function isLongText(name) {
      return /account|notes?$|details|summary|situation|view|conclusions|description|plan|history|information|proposals|risk_notes|reasons|needs|arrangements|measures|circumstances|observations/.test(name);
    }

    function labelNode(path, required, extra) {
      return h('span', { class: 'label' }, fieldLabel(kind, path),
        required ? null : h('span', { class: 'opt', text: ' (' + word('optional', 'optional') + ')' }), extra || null);
    }

    function wrapField(path, dataPath, required, control, description) {
      const el = h('label', { class: 'field', 'data-path': dataPath, title: description || null }, labelNode(path, required), control);
      registry.set(dataPath, el);
      return el;
    }

    // Returns { el, get } where get() gives the JSON value or undefined.
    function widget(schema, path, dataPath, required, initial) {
      const [s, nullable] = unwrap(schema);
      const optional = !required || nullable;
      const desc = s.description || '';
      const name = path.split('.').pop() || '';
      const codes = codesOf(s);
      if (codes) {
        const sel = h('select', { name: dataPath, 'data-field': dataPath },
          h('option', { value: '', text: optional ? '—' : 'Choose…' }),
          codes.map((c) => h('option', { value: c, selected: initial === c }, codeLabel(c))));
        return { el: wrapField(path, dataPath, !optional, sel, desc), get: () => (sel.value === '' ? undefined : sel.value) };
      }
      const variants = variantsOf(s);
      if (variants) return taggedWidget(variants, path, dataPath, initial, desc);
      const type = s.type;
      if (type === 'object') return objectWidget(s, path, dataPath, optional, initial, desc);
      if (type === 'array') return arrayWidget(s, path, dataPath, optional, initial, desc);
      if (type === 'boolean') {
        if (!optional) {
          const cb = h('input', { type: 'checkbox', name: dataPath, 'data-field': dataPath, checked: initial === true });
          const el = h('label', { class: 'field checkbox', 'data-path': dataPath, title: desc || null }, cb, labelNode(path, true));
          registry.set(dataPath, el);
          return { el, get: () => cb.checked };
        }
        const sel = h('select', { name: dataPath, 'data-field': dataPath },
          h('option', { value: '', text: '—' }),
          h('option', { value: 'true', selected: initial === true, text: 'yes' }),
          h('option', { value: 'false', selected: initial === false, text: 'no' }));
        return { el: wrapField(path, dataPath, false, sel, desc), get: () => (sel.value === '' ? undefined : sel.value === 'true') };
      }
      if (type === 'integer' || type === 'number') {
        const input = h('input', { type: 'number', name: dataPath, 'data-field': dataPath, step: type === 'integer' ? 1 : 'any',
          min: s.minimum, max: s.maximum, value: initial === undefined || initial === null ? null : initial });
        return { el: wrapField(path, dataPath, !optional, input, desc), get: () => {
          if (input.value.trim() === '') return undefined;
          const n = Number(input.value);
          return Number.isNaN(n) ? input.value : n;
        } };
      }
      if (s.format === 'date') {
        const input = h('input', { type: 'date', name: dataPath, 'data-field': dataPath, value: initial || null });
        return { el: wrapField(path, dataPath, !optional, input, desc), get: () => (input.value === '' ? undefined : input.value) };
      }
      if (s.format === 'date-time') {
        const input = h('input', { type: 'datetime-local', name: dataPath, 'data-field': dataPath, step: 1,
          value: initial ? String(initial).replace(/Z$/, '') : null });
        const el = wrapField(path, dataPath, !optional, input, desc);
        el.querySelector('.label').append(h('span', { class: 'opt', text: ' (UTC)' }));
        return { el, get: () => {
          if (input.value === '') return undefined;
          const v = input.value.length === 16 ? input.value + ':00' : input.value;
          return v + 'Z';
        } };
      }
      const long = isLongText(name);
      const attrs = { name: dataPath, 'data-field': dataPath };
      if (s.pattern === '^[A-Z]{2}$') Object.assign(attrs, { maxlength: 2, placeholder: 'CC', class: 'country' });
      const input = long ? h('textarea', attrs, initial || '') : h('input', Object.assign({ type: 'text', value: initial || null }, attrs));
      return { el: wrapField(path, dataPath, !optional, input, desc), get: () => {
        const v = input.value;
        if (v.trim() === '') return undefined;
        return s.pattern === '^[A-Z]{2}$' ? v.trim().toUpperCase() : v;
      } };
    }

    function orderedProps(s) {
      const props = s.properties || {};
      const req = s.required || [];
      const names = req.filter((n) => n in props);
      for (const n of Object.keys(props)) if (!names.includes(n)) names.push(n);
      return names.map((n) => [n, props[n], req.includes(n)]);
    }

    function objectFields(s, path, dataPath, initial, skipType) {
      const parts = [];
      for (const [n, p, req] of orderedProps(s)) {
        if (skipType && n === 'type') continue;
        const childPath = path ? path + '.' + n : n;
        const childData = dataPath ? dataPath + '.' + n : n;
        const w = widget(p, childPath, childData, req, initial && typeof initial === 'object' ? initial[n] : undefined);
        parts.push([n, w]);
      }
      return parts;
    }

    function collect(parts, base) {
      const out = base || {};
      for (const [n, w] of parts) {
        const v = w.get();
        if (v !== undefined) out[n] = v;
      }
      return out;
    }

    function objectWidget(s, path, dataPath, optional, initial, desc) {
      if (!path) {
        const parts = objectFields(s, path, dataPath, initial, false);
        return { el: h('div', {}, parts.map(([, w]) => w.el)), get: () => collect(parts) };
      }
      const parts = objectFields(s, path, dataPath, initial, false);
      const body = h('div', {}, parts.map(([, w]) => w.el));
      const fs = h('fieldset', { 'data-path': dataPath, title: desc || null }, h('legend', {}, labelNode(path, !optional)));
      registry.set(dataPath, fs);
      if (!optional) {
        fs.append(body);
        return { el: fs, get: () => collect(parts) };
      }
      const include = h('input', { type: 'checkbox', 'data-include': dataPath, checked: initial !== undefined && initial !== null });
      body.hidden = !include.checked;
      include.addEventListener('change', () => { body.hidden = !include.checked; });
      fs.append(h('label', { class: 'field checkbox' }, include, 'Fill in this part'), body);
      return { el: fs, get: () => (include.checked ? collect(parts) : undefined) };
    }

    function taggedWidget(variants, path, dataPath, initial, desc) {
      const typePath = path ? path + '.type' : 'type';
      const typeData = dataPath ? dataPath + '.type' : 'type';
      const sel = h('select', { name: typeData, 'data-field': typeData },
        h('option', { value: '', text: 'Choose…' }),
        variants.map(([t]) => h('option', { value: t, selected: initial && initial.type === t }, codeLabel(t))));
      const body = h('div', {});
      let parts = [];
      const draw = () => {
        const v = variants.find(([t]) => t === sel.value);
        parts = v ? objectFields(v[1], path, dataPath, initial && initial.type === sel.value ? initial : undefined, true) : [];
        body.replaceChildren(...parts.map(([, w]) => w.el));
      };
      sel.addEventListener('change', draw);
      draw();
      const el = h('div', { title: desc || null }, wrapField(typePath, typeData, true, sel, ''), body);
      return { el, get: () => (sel.value ? collect(parts, { type: sel.value }) : undefined) };
    }

    function arrayWidget(s, path, dataPath, optional, initial, desc) {
      const list = h('div', {});
      const items = [];
      const fs = h('fieldset', { 'data-path': dataPath, title: desc || null }, h('legend', {}, labelNode(path, !optional)));
      registry.set(dataPath, fs);
      const add = (value) => {
        const idx = items.length;
        const w = widget(s.items || {}, path, dataPath + '[' + idx + ']', true, value);
        const entry = { w, el: null };
        const remove = h('button', { type: 'button', class: 'secondary small', text: 'Remove' });
        entry.el = h('div', { class: 'list-item' }, w.el, remove);
        remove.addEventListener('click', () => {
          const i = items.indexOf(entry);
          if (i >= 0) items.splice(i, 1);
          entry.el.remove();
          renumber();
        });
        const no = h('span', { class: 'item-no' });
        const label = entry.el.querySelector('.label, legend');
        if (label) label.append(no);
        entry.no = no;
        items.push(entry);
        list.append(entry.el);
        renumber();
      };
      const renumber = () => items.forEach((e, i) => { if (e.no) e.no.textContent = ' ' + (i + 1); });
      for (const v of Array.isArray(initial) ? initial : []) add(v);
      const addButton = h('button', { type: 'button', class: 'secondary small', 'data-add': dataPath, text: '+ Add' });
      addButton.addEventListener('click', () => add(undefined));
      fs.append(list, addButton);
      return { el: fs, get: () => {
        const out = [];
        for (const e of items) {
          const v = e.w.get();
          if (v !== undefined) out.push(v);
        }
        if (!out.length && optional) return undefined;
        return out;
      } };
    }

    function showErrors(fields) {
      for (const el of document.querySelectorAll('.form .has-error')) el.classList.remove('has-error');
      for (const el of document.querySelectorAll('.form .field-error')) el.remove();
      const general = [];
      for (const f of fields) {
        let p = f.field;
        let target = registry.get(p);
        while (!target && p) {
          const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
          if (cut <= 0) break;
          p = p.slice(0, cut);
          target = registry.get(p);
        }
        if (target) {
          target.classList.add('has-error');
          const where = p === f.field ? '' : f.field + ': ';
          const msg = h('span', { class: 'field-error', 'data-error-for': f.field, role: 'alert', text: where + plainFieldMessage(f.message) });
          if (target.tagName === 'FIELDSET') target.querySelector('legend').after(msg);
          else target.append(msg);
        } else {
          general.push(f);
        }
      }
      return general;
    }

    return { widget, showErrors };
  }

  // serde's messages name Rust types; say the same in plain words.
  function plainFieldMessage(m) {
    let out = m;
    const missing = /^missing field `([^`]+)`/.exec(m);
    if (missing) return 'This field is required.';
    const variant = /^unknown variant `([^`]*)`, expected (.*)$/.exec(m);
    if (variant) return 'Choose one of the listed values.';
    out = out.replace(/ at line \d+ column \d+$/, '');
    return out;
  }

  // ---------- compose ----------

  // The paths with a value in `given` that `kept` does not have (nulls and
  // empty lists count as no value).
  function missingPaths(given, kept, path) {
    const empty = (v) => v === null || v === undefined || (Array.isArray(v) && v.length === 0);
    if (empty(given)) return [];
    if (empty(kept)) return [path || '(form)'];
    if (Array.isArray(given)) {
      if (!Array.isArray(kept)) return [path];
      return given.flatMap((g, i) => missingPaths(g, kept[i], path + '[' + i + ']'));
    }
    if (typeof given === 'object') {
      if (typeof kept !== 'object' || Array.isArray(kept)) return [path];
      return Object.keys(given).flatMap((k) => missingPaths(given[k], kept[k], path ? path + '.' + k : k));
    }
    return [];
  }

  const SAFEGUARDS = {
    'feared-country': 'The child fears the country this message would go to. Nothing about the child may be sent there.',
    'protected-country': 'The child seeks asylum or is a refugee, and this message would go to the country the child is protected from. The asylum barrier forbids it.',
    'protected-country-unknown': 'The child seeks asylum or is a refugee, but the case record does not say which country the child must be protected from. Complete the case record first.',
    'contact-not-agreed': 'The child seeks asylum or is a refugee and has not agreed to contact with this country.',
    'social-inquiry-asylum': 'No social inquiry may be made about a child who seeks asylum or is a refugee: it would contact the family in the country of origin.',
    'continuity-of-care-consent': 'A continuity-of-care form needs the recorded consent of both the child and the guardian.',
    'family-tracing-consent': 'Tracing the family needs the child\u2019s recorded consent.',
    'family-complicity': 'The family is suspected of taking part in the trafficking, so the family may not be traced.',
    'information-consent': 'Collecting this information needs the consent of the child and the guardian.',
  };

  function refusalBox(e) {
    const rule = (/\(([a-z-]+)\)/.exec(e.message) || [])[1];
    const plain = SAFEGUARDS[rule];
    const box = h('div', { class: 'notice bad', role: 'alert', id: 'send-refused' },
      h('h3', { text: 'Not sent: a safeguard protects this child' }),
      plain ? h('p', { text: plain }) : null,
      h('p', { class: 'small', text: 'The node said: ' + e.message }),
      h('p', { class: 'small muted', text: /no override/.test(e.message)
        ? 'This safeguard cannot be lifted. Nothing was queued; the refusal is recorded in the audit log.'
        : 'Nothing was queued; the refusal is recorded in the audit log. An administrator may lift this safeguard with a written reason.' }));
    return box;
  }

  async function renderCompose(gen, query) {
    if (!mayWrite()) {
      setViewFor(gen, h('h1', { text: 'Compose' }), h('div', { class: 'notice warn', text: 'Your role (' + state.me.role + ') may not send messages.' }));
      return;
    }
    const [peersR, msgsR, agreementsR] = await Promise.all([
      api('GET', '/v1/peers'), api('GET', '/v1/messages'), api('GET', '/v1/agreements'),
    ]);
    const peers = peersR.peers;
    const agreements = new Map(agreementsR.agreements.map((a) => [a.peer, a]));
    const cases = [...new Set(msgsR.messages.map((m) => m.case))].sort();
    const sendable = state.kinds.filter((k) => !k.sent_by_node);

    const peerSel = h('select', { id: 'compose-peer', name: 'to' },
      peers.map((p) => h('option', { value: p.country, selected: query.get('to') === p.country }, p.country + ' \u2014 ' + p.name)));
    const kindSel = h('select', { id: 'compose-kind', name: 'kind' },
      sendable.map((k) => h('option', { value: k.kind, selected: query.get('kind') === k.kind }, k.label)));
    const caseInput = h('input', { type: 'text', id: 'compose-case', name: 'case', list: 'known-cases', value: query.get('case') || null, placeholder: 'case reference' });
    const caseList = h('datalist', { id: 'known-cases' }, cases.map((c) => h('option', { value: c })));
    const langSel = h('select', { id: 'compose-lang', name: 'lang' });
    const replySel = h('select', { id: 'compose-reply', name: 'reply_to' });
    const tracing = h('input', { type: 'checkbox', id: 'compose-tracing', name: 'family_tracing' });
    const override = h('input', { type: 'text', id: 'compose-override', name: 'override_reason', placeholder: 'only to lift a safeguard, at least 10 characters' });
    const attachInput = h('input', { type: 'file', id: 'compose-attachments', name: 'attachments', multiple: true });
    const formHost = h('div', { class: 'form', id: 'compose-form' });
    const status = h('div', { id: 'compose-status', 'aria-live': 'polite' });
    let builder = null;
    let root = null;

    function refreshLanguages() {
      const a = agreements.get(peerSel.value);
      const langs = a ? a.languages : ['en'];
      langSel.replaceChildren(...langs.map((l, i) => h('option', { value: l, selected: i === 0 }, l)));
      if (a && a.state !== 'active') {
        status.replaceChildren(h('div', { class: 'notice warn', text: 'The agreement with ' + peerSel.value + ' is ' + a.state + ': nothing can be sent until it is active.' }));
      }
    }

    function refreshReplies() {
      const k = state.kinds.find((x) => x.kind === kindSel.value);
      const fits = msgsR.messages.filter((m) => m.case === caseInput.value.trim() && m.peer === peerSel.value && k && k.answers.includes(m.kind));
      const wanted = query.get('reply');
      replySel.replaceChildren(h('option', { value: '', text: 'none (a new thread)' }),
        ...fits.map((m) => h('option', { value: m.id, selected: m.id === wanted }, kindLabel(m.kind) + ' ' + (m.direction === 'in' ? 'from ' : 'to ') + m.peer + ' \u2014 ' + m.id)));
    }

    // The latest call wins: a kind chosen, then a file loaded, must not
    // end with the first call's empty form drawn over the second's.
    let formGen = 0;

    async function loadForm(initial) {
      const mine = ++formGen;
      const kind = kindSel.value;
      formHost.replaceChildren(h('p', { class: 'muted', text: 'Loading the form…' }));
      const schema = await api('GET', '/v1/forms/' + encodeURIComponent(kind) + '/schema');
      if (mine !== formGen) return false;
      root = schema;
      builder = makeFormBuilder(kind, root);
      const top = builder.widget(root, '', '', true, initial);
      builder.top = top;
      formHost.replaceChildren(h('h2', { text: kindLabel(kind) }),
        root.description ? h('p', { class: 'small muted', text: root.description }) : null,
        top.el);
      status.replaceChildren();
      refreshReplies();
      return true;
    }

    async function check() {
      if (!builder || !builder.top) return { ok: false };
      const form = builder.top.get() || {};
      try {
        await api('POST', '/v1/forms/' + encodeURIComponent(kindSel.value) + '/validate', form);
        builder.showErrors([]);
        return { ok: true, form };
      } catch (e) {
        if (e.code === 'invalid-form') {
          const general = builder.showErrors(e.fields);
          const box = h('div', { class: 'notice bad', role: 'alert', id: 'form-problems' },
            h('h3', { text: 'Please correct the form (' + e.fields.length + ' problem' + (e.fields.length === 1 ? '' : 's') + ')' }),
            h('ul', {}, e.fields.map((f) => h('li', {}, h('strong', { text: fieldLabel(kindSel.value, f.field) }), ' (' + f.field + '): ' + plainFieldMessage(f.message)))));
          if (general.length) box.append(h('p', { class: 'small', text: 'Some problems concern the form as a whole.' }));
          status.replaceChildren(box);
          const first = formHost.querySelector('.has-error');
          if (first) first.scrollIntoView({ block: 'center' });
          return { ok: false };
        }
        status.replaceChildren(errorBox(e, 'The form could not be checked'));
        return { ok: false };
      }
    }

    async function watchDelivery(id) {
      const line = h('p', { id: 'delivery-state' }, 'State: ', badge('queued'));
      status.append(line);
      for (let i = 0; i < 120; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        if (!document.body.contains(line)) return;
        let m;
        try {
          m = (await api('GET', '/v1/messages?case=' + encodeURIComponent(caseInput.value.trim()))).messages.find((x) => x.id === id);
        } catch (e) { continue; }
        if (!m) continue;
        line.replaceChildren('State: ', badge(m.state),
          m.state === 'delivered' ? ' \u2014 the peer\u2019s node signed a receipt at ' + when(m.delivered) + '.' : '',
          m.due ? ' The answer is due ' + when(m.due) + '.' : '',
          m.last_error ? h('span', { class: 'small muted', text: ' (last attempt: ' + m.last_error + ')' }) : '');
        if (m.state === 'delivered' || m.state === 'failed') return;
      }
    }

    // A form exported by a case-management system, or written from
    // `nfp-node form template`, can be loaded into the fields; nothing is
    // sent until the operator chooses Send.
    const fileInput = h('input', { type: 'file', id: 'compose-file', accept: '.json,application/json' });
    fileInput.addEventListener('change', async () => {
      const file = fileInput.files && fileInput.files[0];
      if (!file) return;
      let parsed;
      try {
        parsed = JSON.parse(await file.text());
      } catch (e) {
        status.replaceChildren(h('div', { class: 'notice bad', role: 'alert', text: file.name + ' is not JSON: ' + e.message }));
        return;
      }
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
        status.replaceChildren(h('div', { class: 'notice bad', role: 'alert', text: file.name + ' does not hold a form (a JSON object).' }));
        return;
      }
      fileInput.value = '';
      if (!(await loadForm(parsed))) return;
      const lost = missingPaths(parsed, builder.top.get() || {}, '');
      const r = await check();
      if (lost.length) {
        status.prepend(h('div', { class: 'notice warn', id: 'form-not-taken', role: 'alert' },
          h('p', { text: 'These values in ' + file.name + ' are not fields of this kind and were left out:' }),
          h('ul', {}, lost.map((l) => h('li', { class: 'mono', text: l })))));
      } else if (r.ok) {
        status.replaceChildren(h('div', { class: 'notice ok', id: 'form-ok', text: 'Loaded ' + file.name + ': the form is complete and valid. Review it, then send.' }));
      }
    });

    const checkBtn = h('button', { type: 'button', class: 'secondary', id: 'compose-check', text: 'Check the form' });
    const sendBtn = h('button', { type: 'submit', id: 'compose-send', text: 'Send' });
    const formEl = h('form', { id: 'compose', novalidate: true },
      section('Message',
        h('div', { class: 'row' },
          h('label', {}, 'To', peerSel),
          h('label', {}, 'Kind', kindSel),
          h('label', {}, 'Case', caseInput, caseList),
          h('label', {}, 'Language', langSel)),
        h('div', { class: 'row' },
          h('label', {}, 'In answer to', replySel),
          h('label', { class: 'checkbox' }, tracing, 'This message asks the peer to trace the child\u2019s family'),
          state.me.role === 'admin' ? h('label', {}, 'Override reason (admins)', override) : null)),
      h('section', { class: 'card' },
        h('div', { class: 'row small' },
          h('label', {}, 'Fill in from a JSON file (read in this browser, not uploaded)', fileInput)),
        formHost),
      section('Attachments',
        h('div', { class: 'row small' },
          h('label', {}, 'Files to send with the message (encrypted to the partner; the agreement limits their size)', attachInput))),
      status,
      h('div', { class: 'row' }, checkBtn, sendBtn));

    checkBtn.addEventListener('click', async () => {
      const r = await check();
      if (r.ok) status.replaceChildren(h('div', { class: 'notice ok', id: 'form-ok', text: 'The form is complete and valid. The safeguards are checked when you send.' }));
    });
    formEl.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      sendBtn.disabled = true;
      try {
        const r = await check();
        if (!r.ok) return;
        if (!caseInput.value.trim()) {
          status.replaceChildren(h('div', { class: 'notice bad', role: 'alert', text: 'Name the case the message is about.' }));
          return;
        }
        const body = {
          to: peerSel.value,
          kind: kindSel.value,
          case: caseInput.value.trim(),
          lang: langSel.value || null,
          reply_to: replySel.value || null,
          form: r.form,
          family_tracing: tracing.checked,
        };
        if (state.me.role === 'admin' && override.value.trim()) body.override_reason = override.value.trim();
        try {
          body.attachments = [];
          for (const file of Array.from(attachInput.files || [])) {
            status.replaceChildren(h('p', { class: 'muted', text: 'Uploading ' + file.name + '…' }));
            const up = await upload(body.to, file);
            body.attachments.push(up.upload);
          }
          const sent = await api('POST', '/v1/messages', body);
          status.replaceChildren(h('div', { class: 'notice ok', id: 'sent' },
            h('h3', { text: 'Sent' }),
            h('p', {}, 'Message ', h('code', { id: 'sent-id', text: sent.id }), ' is stored and queued for ' + body.to + '. ',
              h('a', { href: '#/cases/' + encodeURIComponent(body.case), text: 'Open the case' }))));
          watchDelivery(sent.id);
        } catch (e) {
          if (e.code === 'refused-by-safeguard') status.replaceChildren(refusalBox(e));
          else if (e.code === 'invalid-attachment') status.replaceChildren(errorBox(e, 'The attachment was refused'));
          else if (e.code === 'invalid-form') { builder.showErrors(e.fields); status.replaceChildren(errorBox(e, 'The form is invalid')); }
          else if (e.code === 'invalid-request' && /case record/.test(e.message)) {
            status.replaceChildren(errorBox(e, 'Not sent'), h('p', {}, 'Open the case first on the ', h('a', { href: '#/cases', text: 'Cases' }), ' page.'));
          } else status.replaceChildren(errorBox(e, 'Not sent'));
        }
      } finally {
        sendBtn.disabled = false;
      }
    });
    peerSel.addEventListener('change', () => { refreshLanguages(); refreshReplies(); });
    kindSel.addEventListener('change', () => { loadForm(undefined); });
    caseInput.addEventListener('change', refreshReplies);

    if (!peers.length) {
      setViewFor(gen, h('h1', { text: 'Compose' }), h('div', { class: 'notice warn', text: 'No peer is registered yet: ask your administrator to add one.' }));
      return;
    }
    if (query.get('reply')) {
      const original = msgsR.messages.find((m) => m.id === query.get('reply'));
      const k = original && state.kinds.find((x) => !x.sent_by_node && x.answers.includes(original.kind) && x.kind !== 'case-update' && x.kind !== 'acknowledgement');
      if (k && !query.get('kind')) kindSel.value = k.kind;
    }
    setViewFor(gen, h('h1', { text: 'Compose' }), formEl);
    refreshLanguages();
    await loadForm(undefined);
  }

  // ---------- agreements ----------

  async function renderAgreements(gen) {
    const r = await api('GET', '/v1/agreements');
    const children = [h('h1', { text: 'Agreements' })];
    if (!r.agreements.length) children.push(h('p', { class: 'empty', text: 'No agreement is registered.' }));
    for (const a of r.agreements) {
      const t = a.terms || {};
      const signatures = h('ul', {}, a.parties.map((p) => h('li', {}, p + ': ', a.signed_by.includes(p) ? badge('signed', 'ok') : badge('not signed', 'warn'))));
      const info = h('dl', { class: 'kv' },
        h('dt', { text: 'state' }), h('dd', {}, badge(a.state), a.state_detail && a.state_detail.reason ? ' ' + a.state_detail.reason : ''),
        h('dt', { text: 'peer' }), h('dd', { text: a.peer + ' \u2014 ' + a.peer_name }),
        h('dt', { text: 'languages' }), h('dd', { text: a.languages.join(', ') }),
        h('dt', { text: 'valid' }), h('dd', { text: (t.valid_from || 'open') + ' to ' + (t.valid_until || 'open') + (t.denounced ? ', denounced from ' + t.denounced : '') }),
        h('dt', { text: 'kinds covered' }), h('dd', { text: t.kinds ? t.kinds.map(kindLabel).join(', ') : 'all' }),
        h('dt', { text: 'delivery' }), h('dd', { text: t.delivery ? 'undelivered messages fail after ' + t.delivery.max_age : 'no maximum age' }),
        h('dt', { text: 'red flag' }), h('dd', { text: t.red_flag ? 'answer within ' + t.red_flag.respond_within : '—' }),
        h('dt', { text: 'hash' }), h('dd', { class: 'mono small', text: a.hash }));
      const slaRows = Object.entries(t.sla || {}).map(([kind, s]) => h('tr', {},
        h('td', { text: kindLabel(kind) }),
        h('td', { text: s.respond_within }),
        h('td', { text: s.answered_by ? s.answered_by.map(kindLabel).join(', ') : 'the default answers' }),
        h('td', { text: s.reminders ? s.reminders.join(', ') : '50%, 100%' }),
        h('td', {}, s.lane === 'urgent' ? badge('urgent', 'bad') : 'routine')));
      const partyRows = Object.entries(t.party || {}).map(([c, p]) => h('tr', {},
        h('td', { text: c }), h('td', { text: p.time_zone || '—' }),
        h('td', { text: (p.weekend || ['saturday', 'sunday']).join(', ') }),
        h('td', { text: String((p.holidays || []).length) }),
        h('td', { text: p.availability + (p.office_hours ? ' (' + p.office_hours + ')' : '') })));
      const followRows = (t.follow_up || []).map((f) => h('tr', {},
        h('td', { text: f.name }), h('td', { text: f.anchor }),
        h('td', { text: f.after ? f.after.join(', ') : f.every ? 'every ' + f.every + (f.until ? ' until ' + f.until : '') : '—' }),
        h('td', { text: f.kind ? kindLabel(f.kind) : kindLabel('follow-up-request') })));
      children.push(h('section', { class: 'card', 'data-agreement': a.id },
        h('h2', {}, a.id + ' version ' + a.version + ' ', badge(a.state)),
        h('div', { class: 'grid' }, h('div', {}, info), h('div', {}, h('h3', { text: 'Signatures' }), signatures)),
        h('h3', { text: 'Response times (SLA)' }),
        table(['kind', 'respond within', 'answered by', 'reminders', 'lane'], slaRows, 'No response times agreed.'),
        h('h3', { text: 'Calendars' }),
        table(['party', 'time zone', 'weekend', 'holidays listed', 'availability'], partyRows, 'No calendars: UTC, Saturday and Sunday off.'),
        h('h3', { text: 'Follow-up schedules' }),
        table(['name', 'counted from', 'when', 'kind'], followRows, 'No follow-up schedule.')));
    }
    setViewFor(gen, ...children);
  }

  // ---------- audit ----------

  async function renderAudit(gen) {
    const r = await api('GET', '/v1/audit/checkpoint');
    const auditor = state.me.role === 'admin' || state.me.role === 'auditor';
    const cp = r.checkpoint;
    const children = [h('h1', { text: 'Audit' })];
    children.push(section('Latest checkpoint',
      h('dl', { class: 'kv' },
        h('dt', { text: 'log' }), h('dd', { class: 'mono small', text: r.origin }),
        h('dt', { text: 'entries in the log' }), h('dd', { id: 'log-size', text: String(r.log_size) }),
        h('dt', { text: 'head' }), h('dd', { class: 'mono small', text: r.head }),
        h('dt', { text: 'checkpoint covers' }), h('dd', { text: cp ? cp.size + ' entries' : 'no checkpoint signed yet' })),
      cp ? h('pre', { id: 'checkpoint-note', text: cp.note }) : null));
    children.push(section('Witnessing by peers',
      table(['peer', 'has cosigned our log up to', 'we last cosigned their log', 'fork or rollback'],
        r.peers.map((p) => h('tr', {},
          h('td', { text: p.country }),
          h('td', {}, p.cosigned_our_log_to ? p.cosigned_our_log_to + ' entries' : badge('not yet', 'warn')),
          h('td', { text: p.log_witness ? p.log_witness.size + ' entries, ' + when(p.log_witness.cosigned_at) : 'not yet' }),
          h('td', {}, p.log_witness && p.log_witness.fork ? badge('FORK', 'fork') : badge('none seen', 'ok'),
            p.log_witness && p.log_witness.fork ? h('div', { class: 'small mono', text: p.log_witness.fork }) : null))),
        'No peer is registered.')));
    if (auditor) {
      const out = h('input', { type: 'text', id: 'export-out', value: r.export_suggestion, size: 60 });
      const ct = h('input', { type: 'checkbox', id: 'export-ciphertexts' });
      const result = h('div', { id: 'export-result', 'aria-live': 'polite' });
      const exportBtn = h('button', { type: 'button', id: 'export-button', text: 'Export the audit bundle' });
      exportBtn.addEventListener('click', async () => {
        exportBtn.disabled = true;
        try {
          const x = await api('POST', '/v1/audit/export', { out: out.value.trim(), ciphertexts: ct.checked });
          result.replaceChildren(h('div', { class: 'notice ok' },
            h('p', {}, 'Written to ', h('code', { text: x.bundle })),
            h('p', { text: x.summary.entries + ' entries, ' + x.summary.checkpoints + ' checkpoints, ' + x.summary.cosignatures + ' cosignatures, ' + x.summary.ciphertexts + ' ciphertexts.' }),
            h('p', { class: 'small muted', text: 'Verify it anywhere with: nfp-node audit verify --bundle DIR' })));
        } catch (e) {
          result.replaceChildren(errorBox(e, 'Not exported'));
        } finally {
          exportBtn.disabled = false;
        }
      });
      const verifyOut = h('div', { id: 'verify-result' });
      const verifyBtn = h('button', { type: 'button', class: 'secondary', id: 'verify-button', text: 'Verify the log now' });
      verifyBtn.addEventListener('click', async () => {
        verifyBtn.disabled = true;
        try {
          const v = await api('GET', '/v1/audit/verify');
          verifyOut.replaceChildren(v.ok
            ? h('div', { class: 'notice ok', text: 'The log verifies: ' + v.size + ' entries, ' + v.checkpoints + ' checkpoints, ' + v.cosignatures + ' cosignatures.' })
            : h('div', { class: 'notice bad', text: 'The log does NOT verify: ' + v.error }));
        } catch (e) {
          verifyOut.replaceChildren(errorBox(e, 'Not verified'));
        } finally {
          verifyBtn.disabled = false;
        }
      });
      children.push(section('Export and verify',
        h('p', { class: 'small muted', text: 'The bundle is written on this machine, in a new directory. It holds the entries, checkpoints and cosignatures; with ciphertexts, also the encrypted messages (never readable without the node\u2019s keys).' }),
        h('div', { class: 'row' }, h('label', {}, 'Directory to create', out), h('label', { class: 'checkbox' }, ct, 'with ciphertexts')),
        h('div', { class: 'row' }, exportBtn, verifyBtn),
        result, verifyOut));
    } else {
      children.push(h('p', { class: 'muted', text: 'Exporting and verifying the log is for administrators and auditors.' }));
    }
    setViewFor(gen, ...children);
  }

  // ---------- start ----------

  document.getElementById('sign-out').addEventListener('click', () => signOut('You are signed out.'));
  document.getElementById('lang-select').addEventListener('change', async (ev) => {
    sessionStorage.setItem(LANG_KEY, ev.target.value);
    state.me = null;
    route();
  });
  window.addEventListener('hashchange', route);
  route();
})();
