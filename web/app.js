// cardbureau operator dashboard. Plain JS, no dependencies, works offline.
// Every data call carries the bearer token (kept in sessionStorage only);
// every value from the server goes into the page via textContent.
'use strict';

(() => {
  const $ = (sel) => document.querySelector(sel);
  const TOKEN_KEY = 'cardbureau.token';
  const state = { token: null, me: null, jobId: null, streamAbort: null, refreshTimer: null,
                  previewUrls: [], pollTimer: null };

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

  function fmtDuration(s) {
    if (s < 0) return '—';
    if (s < 60) return `${s} s`;
    const m = Math.round(s / 60);
    return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  // Shows an empty-state line instead of an empty table.
  function setEmpty(id, isEmpty) { $(id).hidden = !isEmpty; }

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
    startPolling();
  }

  // The centre link and the KPIs move without job events (heartbeats, the
  // clock): they are polled from the server, which reads the intake loop
  // and the store, never derived from this page's own event stream.
  function startPolling() {
    if (state.pollTimer) clearInterval(state.pollTimer);
    state.pollTimer = setInterval(() => {
      if (!state.token) return;
      Promise.all([loadLink(), loadKpis()]).catch(() => {});
    }, 2000);
  }

  function logout(why) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (state.streamAbort) state.streamAbort.abort();
    if (state.pollTimer) clearInterval(state.pollTimer);
    state.pollTimer = null;
    state.token = null;
    state.me = null;
    state.jobId = null;
    $('#detail').hidden = true;
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

  // One bar per batch, split by outcome with the legend's colours; the tick
  // only when the store says the batch is fully produced with nothing
  // outstanding (BatchSummary.complete).
  const SEGMENTS = [['produced', 'produced'], ['at-station', 'in_progress'], ['queued', 'queued'],
                    ['rejected', 'rejected'], ['failed', 'failed'], ['voided', 'voided']];

  async function openBatchFile(batchId, kind) {
    try {
      const blob = await api(`/api/batches/${encodeURIComponent(batchId)}/${kind}`, { blob: true });
      const url = URL.createObjectURL(blob);
      window.open(url, '_blank', 'noopener');
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (e) {
      say(`${e.code}: ${e.message}`, true);
    }
  }

  async function loadBatches() {
    const seq = nextSeq('batches');
    const { batches } = await api('/api/batches');
    if (!isLatest('batches', seq)) return;
    const box = $('#batches');
    box.replaceChildren();
    if (batches.length === 0) box.append(el('p', { class: 'empty', text: 'No batches yet.' }));
    for (const b of batches) {
      const bar = el('div', { class: 'bar', role: 'img' });
      bar.setAttribute('aria-label', 'progress of batch ' + b.batch_id);
      for (const [cls, key] of SEGMENTS) {
        const n = b[key] || 0;
        const seg = el('div', { class: 'seg ' + cls, 'data-seg': cls, 'data-n': String(n),
                                title: `${n} ${cls}` });
        seg.style.width = (b.total > 0 ? (100 * n) / b.total : 0) + '%';
        bar.append(seg);
      }
      const files = el('div', { class: 'files' });
      for (const [kind, label, has] of [['manifest', 'manifest', b.has_manifest],
                                        ['reconciliation', 'reconciliation', b.has_reconciliation]]) {
        if (!has) continue;
        const a = el('a', { href: '#', class: 'batch-file ' + kind, text: label });
        a.addEventListener('click', (e) => { e.preventDefault(); openBatchFile(b.batch_id, kind); });
        files.append(a);
      }
      box.append(el('div', { class: 'batch' + (b.complete ? ' done' : ''), 'data-batch': b.batch_id,
                             'data-done': b.complete ? '1' : '0' },
        el('div', {},
          el('div', { class: 'name' }, b.batch_id,
             b.complete ? el('span', { class: 'tick', title: 'fully produced', text: ' ✓' }) : ''),
          el('div', { class: 'hint', text: b.school_name + ' · ' + b.school_code }), files),
        bar,
        el('div', { class: 'counts',
          text: `${b.produced}/${b.total} produced · ${b.in_progress} at stations · ${b.queued} queued · ` +
                `${b.rejected} rejected · ${b.failed} failed · ${b.voided} voided · ${b.reprinted} reprints` })));
    }
  }

  // ---- centre link, KPIs, SLA, faults ----
  async function loadLink() {
    const l = await api('/api/link');
    const badge = $('#link-badge');
    badge.className = 'badge link ' + l.state;
    badge.dataset.state = l.state;
    const beat = l.last_heartbeat_ms ? ' · last heartbeat ' + fmtTime(l.last_heartbeat_ms) : '';
    badge.textContent = l.state === 'connected' ? 'centre: connected' + beat
      : l.state === 'reconnecting' ? 'centre: reconnecting' +
          (l.since_ms ? ' since ' + fmtTime(l.since_ms) : '') + beat
      : 'centre: no link';
  }

  async function loadKpis() {
    const seq = nextSeq('kpis');
    const k = await api('/api/kpis');
    if (!isLatest('kpis', seq)) return;
    const box = $('#kpis');
    box.replaceChildren();
    for (const [key, label, value] of [
      ['produced_this_hour', 'produced this hour', k.produced_this_hour],
      ['produced_today', 'produced today', k.produced_today],
      ['cards_per_hour_15min', 'cards/hour (last 15 min)', k.cards_per_hour_15min],
      ['queue_depth', 'queued', k.queue_depth],
      ['at_stations', 'at stations', k.at_stations],
      ['eta_seconds', 'to finish open batches',
       k.eta_seconds === 0 ? 'done' : fmtDuration(k.eta_seconds)]]) {
      box.append(el('div', { class: 'kpi', 'data-kpi': key, 'data-value': String(k[key]) },
        el('div', { class: 'value', text: String(value) }), el('div', { class: 'label', text: label })));
    }
  }

  // Unused cards of the imported stock lots per card type (issue 21), with
  // the line.json stock.low_level warning.
  async function loadStock() {
    const seq = nextSeq('stock');
    const s = await api('/api/stock');
    if (!isLatest('stock', seq)) return;
    $('#stock-rule').textContent = s.low_level > 0 ? `(warns below ${s.low_level})` : '';
    const box = $('#stock');
    box.replaceChildren();
    for (const t of s.card_types) {
      box.append(el('div', { class: 'kpi' + (t.low ? ' low' : ''), 'data-card-type': t.card_type,
                             'data-remaining': String(t.remaining), 'data-low': t.low ? '1' : '0' },
        el('div', { class: 'value', text: String(t.remaining) }),
        el('div', { class: 'label',
                    text: `${t.card_type}: unused of ${t.received}` + (t.low ? ' — low stock' : '') })));
    }
    setEmpty('#stock-empty', s.card_types.length === 0);
  }

  async function loadSla() {
    const seq = nextSeq('sla');
    const v = await api('/api/sla');
    if (!isLatest('sla', seq)) return;
    $('#sla-rule').textContent = `(SLA ${v.sla_working_days} working days; flagged from ` +
      `${v.flag_after_days}; calendar: ${v.calendar})`;
    const body = $('#sla tbody');
    body.replaceChildren();
    for (const j of v.jobs.slice(0, 50)) {
      const tr = el('tr', { class: j.flagged ? 'late' : '', 'data-job': j.job_id,
                            'data-flagged': j.flagged ? '1' : '0' },
        el('td', { text: j.job_id }), el('td', { text: j.batch_id }),
        el('td', {}, el('span', { class: 'state ' + j.state, text: j.state })),
        el('td', { text: j.confirmed_at || '(intake time)' }),
        el('td', { text: String(j.working_days) + (j.flagged ? ' — late' : '') }));
      tr.addEventListener('click', () => showJob(j.job_id));
      body.append(tr);
    }
    setEmpty('#sla-empty', v.jobs.length === 0);
  }

  async function loadFaults() {
    const seq = nextSeq('faults');
    const { faults } = await api('/api/faults?open=1');
    if (!isLatest('faults', seq)) return;
    const body = $('#faults tbody');
    body.replaceChildren();
    for (const f of faults) {
      const actions = el('td');
      if (can.control()) {
        const b = el('button', { type: 'button', class: 'ack', text: 'Acknowledge' });
        b.addEventListener('click', () => act(`/api/faults/${f.fault_id}/ack`, {},
                                              `fault ${f.code} on ${f.station_id} acknowledged`));
        actions.append(b);
      }
      body.append(el('tr', { class: 'fault-row', 'data-fault': String(f.fault_id), 'data-code': f.code },
        el('td', { text: fmtTime(f.at_ms) }), el('td', { text: f.station_id }),
        el('td', {}, el('span', { class: 'state failed', text: f.code })),
        el('td', { text: f.job_id }), el('td', { text: f.message }), actions));
    }
    setEmpty('#faults-empty', faults.length === 0);
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
      // What the printer reports of its ribbon and card stock (low at a fifth).
      if (s.supplies) {
        const u = s.supplies;
        const low = u.ribbon_low || u.cards_low;
        tile.append(el('div', { class: 'supplies' + (low ? ' low' : ''),
                                'data-ribbon-left': String(u.ribbon_left), 'data-cards-left': String(u.cards_left),
                                'data-low': low ? '1' : '0',
                                text: `ribbon ${u.ribbon_left}/${u.ribbon_capacity}` + (u.ribbon_low ? ' (low)' : '') +
                                      ` · cards ${u.cards_left}/${u.cards_capacity}` + (u.cards_low ? ' (low stock)' : '') }));
      }
      // The last fault only while it is not acknowledged.
      if (s.open_fault) {
        const f = s.open_fault;
        tile.append(el('div', { class: 'fault', 'data-fault': String(f.fault_id),
                                text: `${f.code} ${fmtTime(f.at_ms)} ${f.job_id}` }));
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
    setEmpty('#reprints-empty', reprints.length === 0);
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
        el('td', {}, stateBadge(j.state, j.card_voided)),
        el('td', { text: j.last_code }),
        el('td', { text: j.station }));
      tr.addEventListener('click', () => showJob(j.job_id));
      body.append(tr);
    }
    $('#results-total').textContent = total ? `${jobs.length} of ${total} jobs` : '';
    setEmpty('#results-empty', total === 0);
  }

  // A voided card is never shown as produced (green): it has its own badge.
  function stateBadge(st, voided) {
    return el('span', { class: 'state ' + (voided ? 'voided' : st), 'data-state': st,
                        text: voided ? st + ' · voided' : st });
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
    if (state.jobId !== jobId) return;
    const panel = $('#detail');
    const opening = panel.hidden;
    panel.hidden = false;
    panel.dataset.job = j.job_id;
    panel.dataset.state = j.state;
    panel.dataset.voided = j.card_voided ? '1' : '0';
    $('#detail-id').textContent = j.job_id;
    const fields = $('#detail-fields');
    fields.replaceChildren();
    fields.append(el('dt', { text: 'State' }), el('dd', {}, stateBadge(j.state, j.card_voided)));
    const rows = [['Student', j.student_name],
                  ['Card no.', j.card_no], ['School', j.school_code], ['Batch', j.batch_id],
                  ['Station', j.station], ['Last code', j.last_code], ['Reprint of', j.reprint_of],
                  ['Reprinted as', j.reprinted_by], ['Updated', fmtTime(j.updated_at_ms)]];
    for (const [k, v] of rows) {
      if (!v) continue;
      fields.append(el('dt', { text: k }), el('dd', { text: v }));
    }
    // One row per history row (the same rows as `cardbureau history`):
    // attempts, faults, QA verdicts, refusals with code, field and message.
    const body = $('#history tbody');
    body.replaceChildren();
    for (const t of j.timeline) {
      const kind = t.kind || 'state';
      const what = kind === 'state' ? t.state : kind + (t.stage && t.stage !== kind ? ' ' + t.stage : '');
      const cls = kind === 'state' ? t.state : kind === 'fault' || kind === 'refusal' ? 'failed' : kind;
      body.append(el('tr', { class: 'kind-' + kind, 'data-kind': kind },
        el('td', { class: 'when', text: fmtTime(t.at_ms) }),
        el('td', {}, el('span', { class: 'state ' + cls, text: what })),
        el('td', { text: [...new Set([t.station, t.printer].filter(Boolean))].join(' · ') }),
        el('td', { text: [t.attempt ? 'card ' + t.attempt : '', t.uid ? 'UID ' + t.uid : '']
          .filter(Boolean).join(' · ') }),
        el('td', { text: t.code }),
        el('td', { text: t.field }),
        el('td', { text: [t.message, t.note !== t.code ? t.note : ''].filter(Boolean).join(' · ') })));
    }
    setEmpty('#history-empty', j.timeline.length === 0);
    const produced = (j.state === 'reported' || j.state === 'acknowledged') && !j.card_voided;
    $('#reprint-form').hidden = !produced;
    for (const u of state.previewUrls.splice(0)) URL.revokeObjectURL(u);
    await Promise.all([loadPreview($('#preview-front'), j.job_id, 'front', j.has_front_preview),
                       loadPreview($('#preview-back'), j.job_id, 'back', j.has_back_preview)]);
    // Faces only for roles the server lets see them: none loaded, none shown.
    $('#previews').hidden = !($('#preview-front').dataset.loaded === '1' ||
                              $('#preview-back').dataset.loaded === '1');
    if (opening) $('#detail-close').focus();
  }

  function closeJob() {
    state.jobId = null;
    $('#detail').hidden = true;
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
      await Promise.all([loadLink(), loadKpis(), loadStock(), loadFaults(), loadSla(), loadBatches(),
                         loadStations(), loadReprints(), loadOutbox(), search()]);
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
    $('#detail-close').addEventListener('click', closeJob);
    document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && state.jobId) closeJob(); });
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
