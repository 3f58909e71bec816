// The status page: polls GET /status every second, and GET /status/series
// and /status/timeline every few seconds, and renders them. Built with DOM
// calls and textContent only, so names from the config can never inject
// markup. The charts are plain SVG drawn here: no library, no network.
'use strict';

const POLL_MS = 1000;
const HISTORY_EVERY = 5; // polls of /status per poll of the history
const SVG_NS = 'http://www.w3.org/2000/svg';

// A script error shows on the page (and in data-errors, which the browser
// test reads) instead of leaving it silently stale.
function scriptError(msg) {
  const e = document.getElementById('script-error');
  if (!e) return;
  e.dataset.errors = String(Number(e.dataset.errors || 0) + 1);
  e.textContent = 'page error: ' + msg;
  e.hidden = false;
}
window.addEventListener('error', (ev) => scriptError(ev.message || 'error'));
window.addEventListener('unhandledrejection', (ev) => scriptError(String(ev.reason)));

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('data-') || k === 'title') e.setAttribute(k, String(v));
    else e[k] = v;
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function badge(text, tone, props) {
  return el('span', Object.assign({ class: 'badge ' + tone, text: text }, props || {}));
}

function secs(s) {
  if (!(s > 0)) return '–';
  if (s < 0.001) return (s * 1e6).toFixed(0) + ' µs';
  if (s < 1) return (s * 1000).toFixed(s < 0.01 ? 1 : 0) + ' ms';
  if (s < 120) return s.toFixed(1) + ' s';
  return Math.round(s / 60) + ' min';
}

function pct(r) {
  return (r * 100).toFixed(r >= 0.999 || r === 0 ? 1 : 2).replace(/\.0$/, '') + '%';
}

function rateTone(r, requests) {
  if (!requests) return 'neutral';
  if (r >= 0.999) return 'good';
  if (r >= 0.95) return 'warn';
  return 'bad';
}

function stat(value, label, tone) {
  return el('div', { class: 'stat ' + (tone || '') }, el('div', { class: 'value', text: value }), el('div', { class: 'label', text: label }));
}

function renderSummary(s) {
  let eps = 0, usable = 0, ejected = 0, open = 0, panic = 0, rps = 0;
  for (const u of s.upstreams) {
    eps += u.endpoints.length; usable += u.usable; ejected += u.ejected;
    if (u.breaker && u.breaker.state !== 'closed') open++;
    if (u.panic) panic++;
  }
  for (const r of s.routes) rps += r.traffic.rps;
  document.getElementById('summary').replaceChildren(
    stat(rps.toFixed(1), 'requests/s (last ' + s.traffic_window_seconds + 's)'),
    stat(String(s.routes.length), 'routes'),
    stat(usable + ' / ' + eps, 'usable endpoints', usable < eps ? 'warn' : ''),
    stat(String(ejected), 'ejected endpoints', ejected ? 'bad' : ''),
    stat(String(open), 'breakers not closed', open ? 'bad' : ''),
    stat(String(panic), 'upstreams in panic', panic ? 'bad' : ''),
  );
}

function policies(r) {
  const chips = [el('span', { class: 'chip', text: 'timeout ' + secs(r.timeout_seconds) })];
  if (r.attempts > 1) chips.push(el('span', { class: 'chip', text: 'retry ×' + r.attempts }));
  if (r.hedge) chips.push(el('span', { class: 'chip', text: 'hedge' }));
  if (r.rate_limit) chips.push(el('span', { class: 'chip', text: r.rate_limit_scope === 'global' ? 'global rate limit' : 'rate limit' }));
  const rl = r.rate_limit_redis;
  if (rl) {
    chips.push(rl.degraded
      ? badge('redis down · on_error ' + rl.on_error, 'bad', { 'data-redis': 'degraded', title: rl.errors + ' redis errors, ' + rl.fallbacks + ' decisions by on_error; next try in ' + secs(rl.retry_in_seconds) })
      : badge('redis ok', 'good', { 'data-redis': 'ok', title: rl.errors + ' redis errors, ' + rl.fallbacks + ' decisions by on_error' }));
  }
  if (r.fallback) chips.push(el('span', { class: 'chip', text: 'fallback' }));
  if (r.fault) chips.push(el('span', { class: 'chip', text: 'fault' }));
  if (r.vote) chips.push(el('span', { class: 'chip', text: 'vote' }));
  if (r.checks) chips.push(el('span', { class: 'chip', text: 'checks ×' + r.checks.checks.length }));
  if (r.shadow) chips.push(el('span', { class: 'chip', text: 'shadow ' + r.shadow.percent + '% → ' + r.shadow.candidate }));
  if (r.quiesce) chips.push(r.quiesce.quiesced ? badge('quiesced', 'bad', { 'data-quiesced': 'true' }) : el('span', { class: 'chip', 'data-quiesced': 'false', text: 'quiesce' }));
  if (r.durable) chips.push(r.durable.store_error ? badge('durable · store down', 'bad', { 'data-durable': 'store-down', title: r.durable.store_error }) : el('span', { class: 'chip', 'data-durable': 'ok', text: 'durable' }));
  if (r.canary) chips.push(badge('canary ' + r.canary.state.replace('_', ' ') + ' · ' + r.canary.weight + '%', canaryTone(r.canary.state), { 'data-canary': r.canary.state }));
  return chips;
}

function renderRoutes(s) {
  document.getElementById('window').textContent = 'traffic over the last ' + s.traffic_window_seconds + ' s';
  const rows = s.routes.map((r) => {
    const t = r.traffic;
    const targets = r.targets.map((x) => r.targets.length > 1 ? x.upstream + ' (' + x.weight + ')' : x.upstream).join(', ');
    return el('tr', { class: 'route', 'data-route': r.name },
      el('td', {}, el('strong', { text: r.name })),
      el('td', {}, el('code', { text: r.match })),
      el('td', { text: targets }),
      el('td', { class: 'wrap' }, policies(r)),
      el('td', { class: 'num', text: t.rps.toFixed(1) }),
      el('td', { class: 'num' }, t.requests ? badge(pct(t.success_rate), rateTone(t.success_rate, t.requests), { 'data-success-rate': t.success_rate }) : el('span', { class: 'muted', text: '–' })),
      el('td', { class: 'num', text: secs(t.p50_seconds) }),
      el('td', { class: 'num', text: secs(t.p99_seconds) }),
    );
  });
  if (!rows.length) rows.push(el('tr', {}, el('td', { class: 'empty', colSpan: 8, text: 'no routes' })));
  // A vote route's voters and a checked route's checks, each on a row of
  // its own under the route's.
  const all = [];
  s.routes.forEach((r, i) => {
    all.push(rows[i]);
    if (r.vote) all.push(el('tr', { class: 'route-detail', 'data-route-vote': r.name }, el('td', {}), el('td', { colSpan: 7 }, renderVote(r.vote))));
    if (r.checks) all.push(el('tr', { class: 'route-detail', 'data-route-checks': r.name }, el('td', {}), el('td', { colSpan: 7 }, renderChecks(r.checks))));
    if (r.canary) all.push(el('tr', { class: 'route-detail', 'data-route-canary': r.name }, el('td', {}), el('td', { colSpan: 7 }, renderCanary(r.canary))));
    if (r.durable) all.push(el('tr', { class: 'route-detail', 'data-route-durable': r.name }, el('td', {}), el('td', { colSpan: 7 }, renderDurable(r.durable))));
    if (r.shadow) all.push(el('tr', { class: 'route-detail', 'data-route-shadow': r.name }, el('td', {}), el('td', { colSpan: 7 }, renderShadow(r.shadow))));
    if (r.quiesce && r.quiesce.report) all.push(el('tr', { class: 'route-detail', 'data-route-quiesce': r.name }, el('td', {}), el('td', { colSpan: 7 }, renderQuiesce(r.quiesce))));
  });
  if (!s.routes.length) all.push(...rows);
  document.querySelector('#routes tbody').replaceChildren(...all);
}

// renderVote shows a vote route's verdicts and each voter: its agreement
// rate and counts, and quarantine.
function renderVote(v) {
  const voters = v.voters.map((x) => {
    const counts = x.agreed + ' agreed, ' + x.dissented + ' dissented, ' + x.missing + ' missing, ' + x.failed + ' failed';
    return el('span', {
      class: 'voter' + (x.quarantined ? ' quarantined' : ''), 'data-voter': x.upstream,
      'data-quarantined': String(x.quarantined), 'data-agreement-rate': x.agreement_rate, title: counts,
    },
    el('strong', { text: x.upstream }), ' ',
    badge(pct(x.agreement_rate) + ' agree', x.quarantined ? 'bad' : rateTone(x.agreement_rate, x.agreed + x.dissented)),
    x.quarantined ? badge('quarantined', 'bad') : null,
    el('span', { class: 'muted', text: ' ' + counts }));
  });
  return el('div', { class: 'detail' },
    el('span', { class: 'chip', text: 'vote: quorum ' + v.quorum }),
    el('span', { class: 'muted', text: v.agreed + ' agreed, ' + v.no_quorum + ' no quorum' }),
    ...voters);
}

// renderDurable shows a durable route's queue: depth against max_queued,
// the oldest message's age, dead letters, the counts since start and the
// workers' saturation.
function renderDurable(d) {
  const full = d.max_queued > 0 ? d.depth / d.max_queued : 0;
  return el('div', { class: 'detail' },
    el('span', { class: 'chip', text: 'durable queue' }),
    badge(d.depth + ' queued of ' + d.max_queued, full > 0.8 ? 'bad' : full > 0.5 ? 'warn' : 'neutral', { 'data-depth': d.depth }),
    el('span', { class: 'muted', text: 'oldest ' + secs(d.oldest_age_seconds) }),
    d.dead_letters > 0 ? badge(d.dead_letters + ' dead letters', 'bad', { 'data-dead-letters': d.dead_letters }) : el('span', { class: 'muted', 'data-dead-letters': 0, text: 'no dead letters' }),
    el('span', { class: 'muted', text: d.accepted + ' accepted, ' + d.delivered + ' delivered, ' + d.retried + ' retried, ' + d.dead + ' dead' }),
    el('span', { class: 'muted', 'data-saturation': d.saturation, text: 'workers ' + d.in_flight + '/' + d.capacity + ' busy' }),
    d.store_error ? badge('store: ' + d.store_error, 'bad') : null);
}

// renderShadow shows a shadow route's comparisons and each field whose
// candidate answer really differed from the primary's, with a sample.
function renderShadow(sh) {
  const fields = (sh.differences || []).map((d) => el('span', {
    class: 'check violated', 'data-field': d.field, 'data-count': d.count,
    title: 'primary ' + d.sample.primary + ' · candidate ' + d.sample.candidate,
  }, el('code', { text: d.field }), ' ', badge(d.count + '×', 'bad')));
  const noise = (sh.noise || []).map((n) => n.field).join(', ');
  return el('div', { class: 'detail' },
    el('span', { class: 'chip', text: 'shadow: ' + sh.candidate + ' against ' + sh.secondary }),
    el('span', { class: 'muted', 'data-compared': sh.compared, text: sh.compared + ' compared, ' + sh.differing + ' differing, ' + sh.dropped + ' dropped' }),
    ...fields,
    fields.length ? null : el('span', { class: 'muted', text: 'no real differences' }),
    noise ? el('span', { class: 'muted', text: 'noise: ' + noise }) : null);
}

// renderQuiesce shows a route's current or last quiesce report.
function renderQuiesce(q) {
  const rep = q.report;
  return el('div', { class: 'detail' },
    q.quiesced ? badge('quiesced', 'bad') : badge('resumed', 'good'),
    el('span', { class: 'chip', 'data-invariant': rep.invariant, text: rep.kind + ': ' + rep.invariant }),
    el('span', { class: 'muted', text: rep.requests + ' requests without a correct answer since ' + new Date(rep.since).toLocaleTimeString() + (rep.resumed_at ? ', resumed ' + new Date(rep.resumed_at).toLocaleTimeString() : '') }));
}

function canaryTone(state) {
  switch (state) {
    case 'promoted': return 'good';
    case 'rolled_back': case 'aborted': return 'bad';
    default: return 'neutral';
  }
}

// renderCanary shows a canary route's rollout: each step, the one it is at,
// this step's requests, and the latest judgment with the numbers behind it.
function renderCanary(c) {
  const steps = c.steps.map((w, i) => el('span', {
    class: 'check' + (i === c.step && (c.state === 'running' || c.state === 'paused') ? ' current' : ''), 'data-step': w,
  }, w + '%'));
  const last = c.history && c.history.length ? c.history[c.history.length - 1] : null;
  return el('div', { class: 'detail' },
    el('span', { class: 'chip', text: 'canary: ' + c.baseline + ' → ' + c.candidate }),
    ...steps,
    el('span', { class: 'muted', text: c.baseline_requests + ' baseline, ' + c.candidate_requests + ' candidate requests this step' }),
    last ? badge('step ' + last.weight + '% ' + last.verdict, last.verdict === 'pass' ? 'good' : 'bad', { 'data-verdict': last.verdict, title: last.reason || '' }) : null,
    c.reason ? el('span', { class: 'muted', text: c.reason }) : null);
}

// renderChecks shows a route's response checks with their violations.
function renderChecks(c) {
  const checks = c.checks.map((x) => el('span', {
    class: 'check' + (x.violations > 0 ? ' violated' : ''), 'data-check': x.check, 'data-violations': x.violations,
  },
  el('code', { text: x.check + ' ' + x.desc }), ' ',
  x.violations > 0 ? badge(x.violations + ' violations', 'bad') : el('span', { class: 'muted', text: 'no violations' })));
  return el('div', { class: 'detail' },
    el('span', { class: 'chip', text: 'checks' }),
    ...checks,
    c.oversize > 0 ? el('span', { class: 'muted', text: c.oversize + ' bodies over the cap' }) : null);
}

function breakerBadge(b) {
  if (!b) return badge('no breaker', 'neutral');
  let text = 'breaker ' + b.state.replace('_', '-');
  if (b.forced) text += ' (forced)';
  if (b.state === 'open' && b.remaining_seconds > 0) text += ' · ' + secs(b.remaining_seconds) + ' left';
  const tone = b.state === 'closed' ? 'good' : b.state === 'open' ? 'bad' : 'warn';
  return badge(text, tone, { 'data-breaker': b.state, title: 'failure rate ' + pct(b.failure_rate) + ' of ' + b.calls + ' calls; tripped ' + b.trips + '×' });
}

function endpointState(e) {
  if (e.ejected) return 'ejected';
  if (!e.healthy) return 'unhealthy';
  if (e.probation) return 'probation';
  return 'healthy';
}

function untilText(iso) {
  if (!iso) return '';
  const left = (Date.parse(iso) - Date.now()) / 1000;
  return left > 0 ? ' · ' + secs(left) + ' left' : '';
}

function renderEndpoint(e) {
  const state = endpointState(e);
  const health = e.healthy
    ? badge('healthy', 'good')
    : badge('unhealthy', 'bad', { title: e.last_check_error || '' });
  let ejection;
  if (e.ejected) ejection = badge('ejected' + untilText(e.ejected_until), 'bad');
  else if (e.probation) ejection = badge('probation', 'warn');
  else ejection = el('span', { class: 'muted', text: 'active' });
  return el('tr', { class: 'endpoint ' + state, 'data-endpoint': e.address, 'data-state': state, 'data-ejected': String(e.ejected) },
    el('td', {}, el('code', { text: e.address })),
    el('td', { class: 'num', text: String(e.priority) }),
    el('td', { class: 'num', text: String(e.weight) }),
    el('td', {}, health),
    el('td', {}, ejection),
    el('td', { class: 'num', text: String(e.in_flight) }),
    el('td', { class: 'num', text: secs(e.ewma) }),
    el('td', { class: 'num', text: String(e.ejections) }),
    el('td', { class: 'wrap muted', text: e.last_check_error || '' }),
  );
}

function renderUpstream(u) {
  const head = el('div', { class: 'head' },
    el('h3', { text: u.name }),
    breakerBadge(u.breaker),
    u.panic ? badge('panic mode', 'bad', { 'data-panic': 'true' }) : null,
    el('span', { class: 'muted', text: u.balancer + ' · ' + u.usable + '/' + u.endpoints.length + ' usable' + (u.active_priority > 0 ? ' · failed over to priority ' + u.active_priority : '') }),
  );
  if (u.concurrency) {
    const c = u.concurrency;
    let text = c.kind + ' limit: ' + c.in_flight + ' / ' + c.limit + ' in flight';
    if (c.kind === 'fixed' && c.queued) text += ', ' + c.queued + ' queued';
    if (c.probing) text += ' (probing)';
    head.append(el('span', { class: 'chip', text: text }));
  }
  head.append(el('span', { class: 'chip', text: 'retry budget: ' + u.retry_budget.remaining + ' left' }));
  const table = el('table', {},
    el('thead', {}, el('tr', {},
      ['endpoint', 'priority', 'weight', 'health', 'ejection', 'in flight', 'latency', 'ejections', 'last check'].map((h, i) =>
        el('th', { class: i === 1 || i === 2 || i === 5 || i === 6 || i === 7 ? 'num' : '', text: h })))),
    el('tbody', {}, u.endpoints.map(renderEndpoint)),
  );
  const classes = ['upstream'];
  if (u.breaker && u.breaker.state === 'open') classes.push('is-open');
  if (u.panic) classes.push('is-panic');
  return el('div', { class: classes.join(' '), 'data-upstream': u.name, 'data-breaker': u.breaker ? u.breaker.state : 'none' }, head, table);
}

function render(s) {
  const ready = document.getElementById('ready');
  if (s.ready) { ready.className = 'badge good'; ready.textContent = 'ready'; }
  else { ready.className = 'badge bad'; ready.textContent = s.draining ? 'draining' : 'quiesced'; }
  renderSummary(s);
  renderRoutes(s);
  renderSLOs(s.slos || []);
  const ups = s.upstreams.map(renderUpstream);
  document.getElementById('upstreams').replaceChildren(...(ups.length ? ups : [el('div', { class: 'empty', text: 'no upstreams' })]));
}

// svg makes an SVG element; attributes are set with setAttribute, text
// with textContent.
function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'text') e.textContent = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c) e.append(c);
  return e;
}

// Chart geometry, in viewBox units; the SVG scales to its box.
const W = 300, H = 80, PAD = 6;

function num(v) {
  return Number.isFinite(v) ? Number(v.toPrecision(6)) : '';
}

function timeText(ms) {
  return new Date(ms).toLocaleTimeString();
}

// chart draws lines of values per bucket. lines: [{name, values}], where a
// value of null is a gap (a bucket without requests). yMax fixes the top of
// the scale, or null for the data's peak. markers: [{ms, kind, severity,
// label}] drawn as vertical lines at their times.
function chart(h, metric, title, lines, fmt, yMax, markers) {
  const n = h.buckets;
  let peak = 0;
  for (const l of lines) for (const v of l.values) if (v !== null && v > peak) peak = v;
  const top = yMax !== null ? yMax : (peak > 0 ? peak * 1.1 : 1);
  const x = (i) => ((i + 0.5) / n) * W;
  const y = (v) => H - PAD - (Math.max(0, Math.min(v, top)) / top) * (H - 2 * PAD);
  const root = svg('svg', {
    class: 'chart', viewBox: '0 0 ' + W + ' ' + H, preserveAspectRatio: 'none', role: 'img',
    'aria-label': title, 'data-route': h.route, 'data-metric': metric,
  });
  root.append(svg('line', { class: 'axis', x1: 0, y1: H - PAD, x2: W, y2: H - PAD }));
  for (const m of markers) {
    const mx = ((m.ms - h.startMs) / (n * h.bucketMs)) * W;
    if (!(mx >= 0 && mx <= W)) continue;
    root.append(svg('line', { class: 'marker sev-' + m.severity, x1: mx, y1: 0, x2: mx, y2: H, 'data-kind': m.kind },
      svg('title', { text: timeText(m.ms) + ' ' + m.label })));
  }
  for (const l of lines) {
    let d = '';
    const dots = [];
    for (let i = 0; i < n; i++) {
      const v = l.values[i];
      if (v === null || v === undefined) continue;
      const joined = i > 0 && l.values[i - 1] !== null && l.values[i - 1] !== undefined;
      d += (joined ? ' L' : ' M') + x(i).toFixed(1) + ',' + y(v).toFixed(1);
      const next = i + 1 < n ? l.values[i + 1] : null;
      if (!joined && (next === null || next === undefined)) dots.push(svg('circle', { class: 'dot ' + l.name, cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 1.5 }));
    }
    root.append(svg('path', {
      class: 'line ' + l.name, d: d.trim(), 'data-series': l.name, 'data-values': l.values.map((v) => v === null ? '' : num(v)).join(','),
      style: l.width ? 'stroke-width: ' + l.width + 'px' : null,
    }), ...dots);
  }
  // A readout of the bucket under the pointer.
  const caption = el('span', { class: 'readout muted' });
  const last = (l) => { for (let i = n - 1; i >= 0; i--) if (l.values[i] !== null) return l.values[i]; return null; };
  const describe = (pick) => lines.map((l) => (lines.length > 1 ? l.name + ' ' : '') + (pick(l) === null ? '–' : fmt(pick(l)))).join(' · ');
  const idle = 'now ' + describe(last);
  caption.textContent = idle;
  root.addEventListener('mousemove', (ev) => {
    const box = root.getBoundingClientRect();
    if (!box.width) return;
    const i = Math.max(0, Math.min(n - 1, Math.floor(((ev.clientX - box.left) / box.width) * n)));
    caption.textContent = timeText(h.startMs + i * h.bucketMs) + ' ' + describe((l) => l.values[i] === undefined ? null : l.values[i]);
  });
  root.addEventListener('mouseleave', () => { caption.textContent = idle; });
  return el('figure', { class: 'chart-box', 'data-metric': metric },
    el('figcaption', {}, el('span', { text: title }), caption),
    root,
    el('div', { class: 'scale muted' }, el('span', { text: '−' + Math.round(n * h.bucketMs / 60000) + ' min' }), el('span', { text: 'top ' + fmt(top) })),
  );
}

// markersFor returns the timeline entries that concern a route: its own
// (fallbacks), its upstreams' and the process's (reloads).
function markersFor(route, upstreams, events) {
  return events.filter((ev) =>
    ev.scope === 'process' ||
    (ev.scope === 'route' && ev.subject === route) ||
    (ev.scope === 'upstream' && upstreams.has(ev.subject)))
    .map((ev) => ({ ms: Date.parse(ev.time), kind: ev.kind, severity: ev.severity, label: eventText(ev) }));
}

function renderRouteHistory(rs, h, upstreams, events) {
  const gapped = (vals) => vals.map((v, i) => rs.requests[i] > 0 ? v : null);
  const route = Object.assign({}, h, { route: rs.route });
  const markers = markersFor(rs.route, upstreams, events);
  const total = rs.requests.reduce((a, b) => a + b, 0);
  const failed = rs.failures.reduce((a, b) => a + b, 0);
  return el('div', { class: 'route-history', 'data-route': rs.route },
    el('div', { class: 'head' },
      el('h3', { text: rs.route === '_unmatched' ? 'unmatched requests' : rs.route }),
      el('span', { class: 'muted', text: total + ' requests, ' + failed + ' failed' })),
    el('div', { class: 'charts' },
      chart(route, 'rps', 'requests/s', [{ name: 'rps', values: rs.rps }], (v) => v.toFixed(v < 10 ? 2 : 0), null, markers),
      chart(route, 'success_rate', 'success rate', [{ name: 'success', values: gapped(rs.success_rate) }], pct, 1, markers),
      chart(route, 'latency', 'latency p50 / p99', [{ name: 'p50', values: gapped(rs.p50_seconds) }, { name: 'p99', values: gapped(rs.p99_seconds) }], secs, null, markers),
    ),
  );
}

function renderHistory(series, timeline, status) {
  const h = {
    buckets: series.routes.length ? series.routes[0].requests.length : series.unmatched.requests.length,
    startMs: Date.parse(series.start),
    bucketMs: series.bucket_seconds * 1000,
  };
  document.getElementById('history-window').textContent = 'per ' + series.bucket_seconds + ' s, up to ' + timeText(Date.parse(series.time));
  const targets = new Map();
  for (const r of (status ? status.routes : [])) targets.set(r.name, new Set(r.targets.map((x) => x.upstream)));
  const events = timeline.events;
  const cards = series.routes.map((rs) => renderRouteHistory(rs, h, targets.get(rs.route) || new Set(), events));
  if (series.unmatched.requests.some((n) => n > 0)) cards.push(renderRouteHistory(series.unmatched, h, new Set(), events));
  document.getElementById('history').replaceChildren(...(cards.length ? cards : [el('div', { class: 'empty', text: 'no routes' })]));
}

// windowText writes a window in seconds as the config does: 5m, 1h, 30d.
function windowText(s) {
  if (s % 86400 === 0) return s / 86400 + 'd';
  if (s % 3600 === 0) return s / 3600 + 'h';
  if (s % 60 === 0) return s / 60 + 'm';
  return s + 's';
}

function burnText(v) {
  return (v < 10 ? v.toFixed(2) : v.toFixed(1)) + '×';
}

// renderSLOs fills the objectives' table from GET /status: the budget left
// over each objective's window, and each tier's burn rates against its
// threshold, the tier marked while it fires.
function renderSLOs(slos) {
  document.getElementById('slos-section').hidden = slos.length === 0;
  const rows = slos.map((o) => {
    const left = o.error_budget_remaining;
    const tiers = o.tiers.map((t) => el('span', {
      class: 'tier' + (t.firing ? ' firing' : ''), 'data-tier': t.tier, 'data-firing': String(t.firing),
      title: windowText(t.long_window_seconds) + ' / ' + windowText(t.short_window_seconds),
    },
    t.firing ? badge(t.tier, 'bad') : el('b', { text: t.tier }),
    ' ' + burnText(t.long_burn_rate) + ' / ' + burnText(t.short_burn_rate) + ' (' + t.burn_rate + '×)'));
    return el('tr', { 'data-slo': o.name, 'data-budget': num(left) },
      el('td', { text: o.name }),
      el('td', { text: o.route }),
      el('td', { class: 'num', text: o.objective + '%' }),
      el('td', { class: 'num', text: windowText(o.window_seconds) }),
      el('td', { class: 'num ' + (left <= 0 ? 'text-bad' : left < 0.25 ? 'text-warn' : ''), text: (left * 100).toFixed(1) + '%' }),
      el('td', { class: 'wrap' }, el('div', { class: 'detail' }, ...tiers)));
  });
  document.querySelector('#slos tbody').replaceChildren(...rows);
}

// SLO_MAX_BUCKETS bounds an objective chart's time grid.
const SLO_MAX_BUCKETS = 720;

// sloGrid places an objective's samples on a grid of time: its step is the
// median spacing between samples (the alerts' interval), so that a stretch
// without samples (the process stopped, or a reload changed the interval)
// is a gap at its true width rather than squeezed out. index[i] is sample
// i's bucket; two samples in one bucket keep the later.
function sloGrid(times) {
  const n = times.length;
  const gaps = [];
  for (let i = 1; i < n; i++) gaps.push(times[i] - times[i - 1]);
  gaps.sort((a, b) => a - b);
  let step = gaps.length ? gaps[Math.floor(gaps.length / 2)] : 1000;
  if (!(step > 0)) step = 1000;
  const span = times[n - 1] - times[0];
  if (span / step + 1 > SLO_MAX_BUCKETS) step = span / (SLO_MAX_BUCKETS - 1);
  const buckets = Math.round(span / step) + 1;
  const index = times.map((t) => Math.min(buckets - 1, Math.round((t - times[0]) / step)));
  return { buckets, step, index };
}

// renderSLOHistory draws each objective's history from GET /status/series:
// the budget left and the tiers' long-window burn rates, one sample per
// alert evaluation, each at its time.
function renderSLOHistory(series) {
  const slos = series.slos || [];
  const cards = slos.filter((o) => o.time_ms.length > 0).map((o) => {
    const n = o.time_ms.length;
    const g = sloGrid(o.time_ms);
    const place = (vals) => {
      const out = new Array(g.buckets).fill(null);
      vals.forEach((v, i) => { out[g.index[i]] = v; });
      return out;
    };
    const h = { buckets: g.buckets, startMs: o.time_ms[0] - g.step / 2, bucketMs: g.step, route: o.route };
    // Tiers' long windows read alike until the history is longer than the
    // shortest of them (and always when two tiers share a window), so
    // their lines may coincide: the first tier's is drawn widest, under the
    // next, so that every tier's line shows.
    const burns = o.tiers.map((t, i) => ({ name: 'burn-' + t.tier.toLowerCase(), values: place(t.long), width: 1.5 * (o.tiers.length - i) }));
    const thresholds = o.tiers.map((t) => t.tier + ' ' + t.burn_rate + '×').join(', ');
    return el('div', { class: 'route-history', 'data-slo': o.name },
      el('div', { class: 'head' },
        el('h3', { text: o.name }),
        el('span', { class: 'muted', text: 'route ' + o.route + ', ' + o.objective + '%, ' + n + ' samples' })),
      el('div', { class: 'charts' },
        chart(h, 'error_budget', 'error budget left', [{ name: 'budget', values: place(o.error_budget_remaining) }], pct, 1, []),
        chart(h, 'burn_rate', 'burn rate, long windows (' + thresholds + ')', burns, burnText, null, []),
      ));
  });
  document.getElementById('slos-window').textContent = cards.length ? 'history: one sample per alert evaluation, at its time' : '';
  document.getElementById('slo-history').replaceChildren(...cards);
}

function arrow(from, to) {
  return from ? from.replace('_', '-') + ' → ' + to.replace('_', '-') : to.replace('_', '-');
}

// eventText is one line describing a timeline entry.
function eventText(ev) {
  const who = ev.subject || '';
  switch (ev.kind) {
    case 'breaker': return 'breaker of ' + who + ': ' + arrow(ev.from, ev.to);
    case 'endpoint': return who + ' endpoint ' + (ev.endpoint || '(one of them)') + ': ' + arrow(ev.from, ev.to);
    case 'health': return who + ' endpoint ' + (ev.endpoint || '(one of them)') + ' ' + ev.to;
    case 'panic': return who + (ev.to === 'panic' ? ': panic mode, no usable endpoint' : ': panic mode over');
    case 'failover': return who + ': traffic moved from priority ' + ev.from + ' to priority ' + ev.to;
    case 'fallback': return (ev.scope === 'route' ? 'route ' : '') + who + ' answered by its fallback' + (ev.count > 1 ? ' ×' + ev.count : '');
    case 'guard': return 'guard ' + who + ': ' + arrow(ev.from, ev.to);
    case 'vote': return 'route ' + who + ' voter ' + (ev.voter || '') + ': ' + arrow(ev.from, ev.to);
    case 'canary': return 'route ' + who + ' canary: ' + arrow(ev.from, ev.to);
    case 'reload': return ev.to === 'ok' ? 'config reloaded' : 'reload refused; the running config keeps serving';
  }
  return who + ' ' + ev.kind;
}

let shownTimeline = '';

function renderTimeline(tl) {
  // Re-render only on a change: a new entry or a coalesced one grown.
  const key = tl.recorded + ':' + tl.events.reduce((a, ev) => a + ev.count, 0);
  if (key === shownTimeline) return;
  shownTimeline = key;
  const dropped = tl.recorded - tl.events.length;
  document.getElementById('timeline-count').textContent =
    tl.events.length + ' kept of the last ' + tl.capacity + (dropped > 0 ? ' (' + dropped + ' older dropped)' : '');
  const items = tl.events.slice().reverse().map((ev) => el('li', {
    class: 'event', 'data-id': ev.id, 'data-kind': ev.kind, 'data-scope': ev.scope, 'data-subject': ev.subject || '',
    'data-from': ev.from || '', 'data-to': ev.to || '', 'data-endpoint': ev.endpoint || '', 'data-voter': ev.voter || '',
    'data-reason': ev.reason || '', 'data-count': ev.count,
  },
    el('time', { dateTime: ev.time, text: timeText(Date.parse(ev.time)) }),
    badge(ev.kind, ev.severity === 'info' ? 'neutral' : ev.severity),
    el('span', { class: 'what', text: eventText(ev) }),
    ev.reason ? el('span', { class: 'muted', text: ev.reason.replaceAll('_', ' ') }) : null,
    ev.last ? el('span', { class: 'muted', text: 'until ' + timeText(Date.parse(ev.last)) }) : null,
    ev.error ? el('span', { class: 'err', text: ev.error }) : null,
  ));
  if (!items.length) items.push(el('li', { class: 'empty', text: 'nothing has happened yet' }));
  document.getElementById('timeline').replaceChildren(...items);
}

function setConn(ok, why) {
  const c = document.getElementById('conn');
  c.textContent = ok ? 'updated ' + new Date().toLocaleTimeString() : 'cannot reach the admin API: ' + why;
  c.className = ok ? 'muted' : 'text-bad';
}

const NO_STORE = { cache: 'no-store' };

async function json(request) {
  const r = await request;
  if (!r.ok) throw new Error(new URL(r.url).pathname + ': HTTP ' + r.status);
  return r.json();
}

let polls = 0;

async function poll() {
  const history = polls % HISTORY_EVERY === 0;
  polls++;
  try {
    let status, series, timeline;
    try {
      [status, series, timeline] = await Promise.all([
        json(fetch('status', NO_STORE)),
        history ? json(fetch('status/series', NO_STORE)) : null,
        history ? json(fetch('status/timeline', NO_STORE)) : null,
      ]);
    } catch (e) {
      setConn(false, e.message);
      return;
    }
    // A failure from here on is the page's own, not the admin API's.
    try {
      render(status);
      if (history) {
        renderTimeline(timeline);
        renderHistory(series, timeline, status);
        renderSLOHistory(series);
      }
      setConn(true);
    } catch (e) {
      scriptError(e.message);
    }
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
