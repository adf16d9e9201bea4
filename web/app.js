// cardbureau operator dashboard. Plain JS, no dependencies, works offline.
// Every data call carries the bearer token (kept in sessionStorage only);
// every value from the server goes into the page via textContent.
'use strict';

(() => {
  const $ = (sel) => document.querySelector(sel);
  const TOKEN_KEY = 'cardbureau.token';
  const state = { token: null, me: null, jobId: null, streamAbort: null, refreshTimer: null,
                  previewUrls: [] };

  // ---- API ----
  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  async function api(path, options = {}) {
    const headers = { Authorization: 'Bearer ' + state.token };
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, {
      method: options.method || 'GET', headers, cache: 'no-store',
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    if (res.status === 401) { logout('Your session is not valid any more; sign in again.'); }
    if (!res.ok) {
      let code = 'HTTP_' + res.status, message = res.statusText;
      try { const e = await res.json(); code = e.code; message = e.message; } catch (_) { /* not JSON */ }
      throw new ApiError(res.status, code, message);
    }
    if (options.blob) return res.blob();
    return res.json();
  }

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('data-')) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) e.append(c);
    return e;
  }

  function say(text, bad = false) {
    const m = $('#message');
    m.textContent = text;
    m.classList.toggle('bad', bad);
  }

  function fmtTime(ms) {
    if (!ms) return '';
    return new Date(ms).toLocaleString('zh-CN', { hour12: false, timeZone: 'Asia/Shanghai' });
  }

  const can = {
    control: () => state.me && (state.me.role === 'operator' || state.me.role === 'admin'),
    decide: () => state.me && (state.me.role === 'qa' || state.me.role === 'admin'),
  };

  // ---- login ----
  async function login(token) {
    state.token = token;
    try {
      state.me = await api('/api/whoami');
    } catch (e) {
      state.token = null;
      $('#login-error').textContent = e.status === 401 ? 'Unknown token.' : 'Sign-in failed: ' + e.message;
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $('#login').hidden = true;
    $('#app').hidden = false;
    $('#session').hidden = false;
    $('#user').textContent = state.me.name + ' (' + state.me.role + ')';
    document.body.dataset.role = state.me.role;
    await refreshAll();
    startStream();
  }

  function logout(why) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (state.streamAbort) state.streamAbort.abort();
    state.token = null;
    state.me = null;
    $('#app').hidden = true;
    $('#session').hidden = true;
    $('#login').hidden = false;
    $('#token').value = '';
    $('#login-error').textContent = why || '';
  }

  // ---- batches ----
  // Refreshes can overlap (live events and the operator's own actions): each
  // view keeps a counter and only its newest answer is drawn, so a slow,
  // stale answer never overwrites a newer one.
  const seqs = {};
  const nextSeq = (view) => (seqs[view] = (seqs[view] || 0) + 1);
  const isLatest = (view, n) => seqs[view] === n;

  async function loadBatches() {
    const seq = nextSeq('batches');
    const { batches } = await api('/api/batches');
    if (!isLatest('batches', seq)) return;
    const box = $('#batches');
    box.replaceChildren();
    if (batches.length === 0) box.append(el('p', { class: 'hint', text: 'No batches yet.' }));
    for (const b of batches) {
      const finished = b.produced + b.failed + b.rejected;
      const done = b.total > 0 && finished === b.total;
      const bar = el('progress', { max: Math.max(1, b.total), value: finished });
      bar.setAttribute('aria-label', 'progress of batch ' + b.batch_id);
      box.append(el('div', { class: 'batch' + (done ? ' done' : ''), 'data-batch': b.batch_id,
                             'data-done': done ? '1' : '0' },
        el('div', {},
          el('div', { class: 'name', text: b.batch_id }),
          el('div', { class: 'hint', text: b.school_name + ' · ' + b.school_code })),
        bar,
        el('div', { class: 'counts',
          text: `${b.produced}/${b.total} produced · ${b.in_progress} at stations · ${b.queued} queued · ` +
                `${b.failed} failed · ${b.rejected} rejected · ${b.reprinted} reprints` })));
    }
  }

  // ---- stations ----
  async function loadStations() {
    const seq = nextSeq('stations');
    const { stations } = await api('/api/stations');
    if (!isLatest('stations', seq)) return;
    const box = $('#stations');
    box.replaceChildren();
    for (const s of stations) {
      const tile = el('div', { class: 'station ' + s.state, 'data-station': s.station_id, 'data-state': s.state },
        el('div', { class: 'title' }, el('span', { text: s.station_id }),
           el('span', { class: 'state', text: s.state })),
        el('div', { text: s.current_job ? 'card: ' + s.current_job : 'no card' }),
        el('div', { class: 'hint', text: `${s.produced} produced · ${s.failed} to reject hopper` }));
      if (s.last_faults.length > 0) {
        const f = s.last_faults[0];
        tile.append(el('div', { class: 'fault', text: `${f.code} ${fmtTime(f.at_ms)} ${f.job_id}` }));
      }
      if (can.control() && s.state !== 'offline') {
        const pause = s.state !== 'paused';
        const b = el('button', { type: 'button', class: 'station-toggle',
                                 text: pause ? 'Pause' : 'Resume' });
        b.addEventListener('click', () => act(
          `/api/stations/${encodeURIComponent(s.station_id)}/${pause ? 'pause' : 'resume'}`, {},
          `${s.station_id} ${pause ? 'paused' : 'resumed'}`));
        tile.append(b);
      }
      box.append(tile);
    }
  }

  // ---- reprints ----
  async function loadReprints() {
    const seq = nextSeq('reprints');
    const { reprints } = await api('/api/reprints');
    if (!isLatest('reprints', seq)) return;
    const body = $('#reprints tbody');
    body.replaceChildren();
    for (const r of reprints.slice(0, 20)) {
      const tr = el('tr', { class: 'reprint-row', 'data-reprint': r.reprint_id, 'data-status': r.status },
        el('td', { text: r.reprint_id }),
        el('td', { text: r.job_id }),
        el('td', { text: r.reason }),
        el('td', { text: r.requested_by }),
        el('td', {}, el('span', { class: 'state ' + r.status, text: r.status +
                                  (r.decided_by ? ' by ' + r.decided_by : '') })),
        el('td', { text: r.new_job_id }));
      const actions = el('td');
      if (r.status === 'pending' && can.decide() && r.requested_by !== state.me.name) {
        const ok = el('button', { type: 'button', class: 'approve primary', text: 'Approve' });
        ok.addEventListener('click', () => act(`/api/reprints/${encodeURIComponent(r.reprint_id)}/approve`,
                                               {}, `${r.reprint_id} approved`));
        const no = el('button', { type: 'button', class: 'reject danger', text: 'Reject' });
        no.addEventListener('click', () => act(`/api/reprints/${encodeURIComponent(r.reprint_id)}/reject`,
                                               {}, `${r.reprint_id} rejected`));
        actions.append(ok, ' ', no);
      }
      tr.append(actions);
      body.append(tr);
    }
  }

  // ---- reports waiting for the centre (the outbox, with its answers) ----
  async function loadOutbox() {
    const seq = nextSeq('outbox');
    const { reports } = await api('/api/reports/pending');
    if (!isLatest('outbox', seq)) return;
    const body = $('#outbox-table tbody');
    body.replaceChildren();
    for (const r of reports.slice(0, 50)) {
      const a = r.centre_answer;
      body.append(el('tr', { class: 'outbox-row' + (a ? ' answered' : ''), 'data-report': r.report_id,
                             'data-type': r.type, 'data-answer': a ? a.code : '' },
        el('td', { text: r.report_id }),
        el('td', { text: r.job_id }),
        el('td', { text: r.type }),
        el('td', { text: fmtTime(r.created_at_ms) }),
        el('td', {}, a ? el('span', { class: 'state failed', title: a.message,
                                      text: `${a.code} (${a.count}×, ${fmtTime(a.at_ms)})` })
                       : 'no answer yet')));
    }
    $('#outbox').hidden = reports.length === 0;
  }

  // ---- jobs ----
  async function search() {
    const seq = nextSeq('jobs');
    const p = new URLSearchParams();
    const q = $('#search-q').value.trim();
    if (q) p.set('q', q);
    if ($('#search-state').value) p.set('state', $('#search-state').value);
    if ($('#search-school').value.trim()) p.set('school', $('#search-school').value.trim());
    p.set('limit', '100');
    const { jobs, total } = await api('/api/jobs?' + p.toString());
    if (!isLatest('jobs', seq)) return;
    const body = $('#results tbody');
    body.replaceChildren();
    for (const j of jobs) {
      const tr = el('tr', { 'data-job': j.job_id, 'data-state': j.state },
        el('td', { text: j.job_id + (j.reprint_of ? ' ↺' : '') }),
        el('td', { text: j.batch_id }),
        el('td', { text: j.card_no }),
        el('td', {}, el('span', { class: 'state ' + j.state, text: j.state + (j.card_voided ? ' (voided)' : '') })),
        el('td', { text: j.last_code }),
        el('td', { text: j.station }));
      tr.addEventListener('click', () => showJob(j.job_id));
      body.append(tr);
    }
    $('#results-total').textContent = `${jobs.length} of ${total} jobs`;
  }

  async function loadPreview(img, jobId, side, available) {
    img.removeAttribute('src');
    img.dataset.loaded = '0';
    if (!available) return;
    try {
      const blob = await api(`/api/jobs/${encodeURIComponent(jobId)}/preview/${side}`, { blob: true });
      const url = URL.createObjectURL(blob);
      state.previewUrls.push(url);
      img.src = url;
      img.dataset.loaded = '1';
    } catch (_) { /* not rendered (yet) or purged */ }
  }

  async function showJob(jobId) {
    state.jobId = jobId;
    const j = await api('/api/jobs/' + encodeURIComponent(jobId));
    $('#detail').hidden = false;
    $('#detail').dataset.job = j.job_id;
    $('#detail').dataset.state = j.state;
    $('#detail-id').textContent = j.job_id;
    const fields = $('#detail-fields');
    fields.replaceChildren();
    const rows = [['State', j.state + (j.card_voided ? ' — card voided' : '')], ['Student', j.student_name],
                  ['Card no.', j.card_no], ['School', j.school_code], ['Batch', j.batch_id],
                  ['Station', j.station], ['Last code', j.last_code], ['Reprint of', j.reprint_of],
                  ['Reprinted as', j.reprinted_by], ['Updated', fmtTime(j.updated_at_ms)]];
    for (const [k, v] of rows) {
      if (!v) continue;
      fields.append(el('dt', { text: k }), el('dd', { text: v }));
    }
    const timeline = $('#timeline');
    timeline.replaceChildren();
    for (const t of j.timeline) {
      // One entry per history row (the same rows as `cardbureau history`).
      const kind = t.kind || 'state';
      const label = kind === 'state' ? t.state : kind;
      timeline.append(el('li', { class: 'kind-' + kind },
        el('span', { class: 'when', text: fmtTime(t.at_ms) }),
        el('span', { class: 'state ' + (kind === 'state' ? t.state : kind), text: label }),
        ' ' + [t.station, t.printer, t.attempt ? 'card ' + t.attempt : '', t.uid ? 'UID ' + t.uid : '',
               t.stage, t.code, t.field, t.message, t.note !== t.code ? t.note : '']
          .filter(Boolean).join(' · ')));
    }
    const produced = (j.state === 'reported' || j.state === 'acknowledged') && !j.card_voided;
    $('#reprint-form').hidden = !produced;
    for (const u of state.previewUrls.splice(0)) URL.revokeObjectURL(u);
    await Promise.all([loadPreview($('#preview-front'), j.job_id, 'front', j.has_front_preview),
                       loadPreview($('#preview-back'), j.job_id, 'back', j.has_back_preview)]);
  }

  // ---- actions ----
  async function act(path, body, done) {
    try {
      const r = await api(path, { method: 'POST', body });
      say(typeof done === 'function' ? done(r) : done);
    } catch (e) {
      say(`${e.code}: ${e.message}`, true);
    }
    await refreshAll();
  }

  async function refreshAll() {
    try {
      await Promise.all([loadBatches(), loadStations(), loadReprints(), loadOutbox(), search()]);
      if (state.jobId) await showJob(state.jobId);
    } catch (e) {
      if (state.token) say(`${e.code || 'ERROR'}: ${e.message}`, true);
    }
  }

  function scheduleRefresh() {
    if (state.refreshTimer) return;
    state.refreshTimer = setTimeout(async () => {
      state.refreshTimer = null;
      await refreshAll();
    }, 250);
  }

  // ---- live events (SSE over fetch, so the token stays in a header) ----
  function setLive(on) {
    const l = $('#live');
    l.textContent = on ? 'live' : 'offline';
    l.classList.toggle('on', on);
    l.classList.toggle('off', !on);
  }

  async function startStream() {
    if (state.streamAbort) state.streamAbort.abort();
    const ctrl = new AbortController();
    state.streamAbort = ctrl;
    let delay = 1000;
    while (!ctrl.signal.aborted && state.token) {
      try {
        const res = await fetch('/api/events', { headers: { Authorization: 'Bearer ' + state.token },
                                                 signal: ctrl.signal, cache: 'no-store' });
        if (!res.ok) throw new Error('HTTP ' + res.status);
        setLive(true);
        delay = 1000;
        scheduleRefresh();
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += decoder.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const msg = buf.slice(0, i);
            buf = buf.slice(i + 2);
            if (msg.split('\n').some((line) => line.startsWith('data:'))) scheduleRefresh();
          }
        }
      } catch (_) { /* reconnect below */ }
      setLive(false);
      if (ctrl.signal.aborted) return;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15000);
    }
  }

  // ---- wiring ----
  document.addEventListener('DOMContentLoaded', () => {
    $('#login-form').addEventListener('submit', (e) => {
      e.preventDefault();
      $('#login-error').textContent = '';
      login($('#token').value.trim());
    });
    $('#logout-btn').addEventListener('click', () => logout());
    $('#search-form').addEventListener('submit', (e) => {
      e.preventDefault();
      search().catch((err) => say(`${err.code}: ${err.message}`, true));
    });
    $('#reprint-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const reason = $('#reprint-reason').value.trim();
      if (!reason || !state.jobId) return;
      act(`/api/jobs/${encodeURIComponent(state.jobId)}/reprint`, { reason },
          (r) => r.status === 'pending' ? `reprint ${r.reprint_id} asked; waiting for QA approval`
                                        : `reprint ${r.reprint_id} approved: ${r.new_job_id}`);
      $('#reprint-reason').value = '';
    });
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) login(saved);
  });
})();
