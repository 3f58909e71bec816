// The status page: polls GET /status every second and renders it. Built
// with DOM calls and textContent only, so names from the config can never
// inject markup.
'use strict';

const POLL_MS = 1000;

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
  if (r.rate_limit) chips.push(el('span', { class: 'chip', text: 'rate limit' }));
  if (r.fallback) chips.push(el('span', { class: 'chip', text: 'fallback' }));
  if (r.fault) chips.push(el('span', { class: 'chip', text: 'fault' }));
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
  document.querySelector('#routes tbody').replaceChildren(...rows);
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
  const ups = s.upstreams.map(renderUpstream);
  document.getElementById('upstreams').replaceChildren(...(ups.length ? ups : [el('div', { class: 'empty', text: 'no upstreams' })]));
}

function setConn(ok, why) {
  const c = document.getElementById('conn');
  c.textContent = ok ? 'updated ' + new Date().toLocaleTimeString() : 'cannot reach the admin API: ' + why;
  c.className = ok ? 'muted' : 'text-bad';
}

async function poll() {
  try {
    const r = await fetch('status', { cache: 'no-store' });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    render(await r.json());
    setConn(true);
  } catch (e) {
    setConn(false, e.message);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
