/* The staff page: the register of guests' data requests (what is open and what is late,
 * acknowledge, carry out, refuse, record one that came by telephone or letter) and the
 * breach register (time left to notify, steps, draft notices). The registers are the
 * operator's (admin key) or, read-only, the auditor's: the key typed here is kept in this
 * tab's storage only. The consent counter's staff session never opens this page. */
'use strict';

(function () {
  const FK = window.FK;
  const { t, el, api, errorText, store, reveal, setBusy, fmtDate } = FK;
  const $ = (id) => document.getElementById(id);

  const staff = () => store.get('staffKey');
  const say = (text) => { $('status').textContent = text; };

  function showLogin(error) {
    $('work-section').hidden = true;
    $('login-error').textContent = error || '';
    reveal($('login-section'), null, false);
  }

  $('key-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = $('staff-key').value.trim();
    if (!key) {
      $('login-error').textContent = t('err_unauthorized');
      return;
    }
    store.set('staffKey', key);
    $('staff-key').value = '';
    await load(true);
  });

  $('sign-out').addEventListener('click', () => {
    store.del('staffKey');
    say('');
    showLogin();
  });

  function toLocalIso(value) {
    // <input type="datetime-local"> gives local wall-clock time: send it with its offset.
    if (!value) return null;
    return new Date(value).toISOString();
  }

  // ------------------------------------------------------------------ requests

  function lateBadge(late) {
    return late.length ? el('span', { class: 'badge late', text: t('rq_late') }) : '';
  }

  function ask(title, label, submit, required) {
    $('act-h').textContent = title;
    $('act-label').textContent = label;
    $('act-submit').textContent = submit;
    $('act-text').value = '';
    $('act-error').textContent = '';
    return new Promise((resolve) => {
      const dialog = $('act-dialog');
      const done = (value) => {
        $('act-form').removeEventListener('submit', onSubmit);
        $('act-cancel').removeEventListener('click', onCancel);
        dialog.close();
        resolve(value);
      };
      const onSubmit = (ev) => {
        ev.preventDefault();
        const value = $('act-text').value.trim();
        if (required && !value) {
          $('act-error').textContent = label;
          return;
        }
        done(value);
      };
      const onCancel = () => done(null);
      $('act-form').addEventListener('submit', onSubmit);
      $('act-cancel').addEventListener('click', onCancel);
      dialog.showModal();
      $('act-text').focus();
    });
  }

  async function act(button, request, action) {
    let body = {};
    if (action === 'complete') {
      const needsCustomer = !request.customer;
      const answer = await ask(t('rq_complete'),
        needsCustomer ? t('new_code_label') : t('rq_outcome'), t('rq_complete'), needsCustomer);
      if (answer === null) return;
      body = needsCustomer ? { customer: answer } : (answer ? { outcome: answer } : {});
    } else if (action === 'refuse') {
      const reason = await ask(t('rq_refuse'), t('rq_reason'), t('rq_refuse'), true);
      if (reason === null) return;
      body = { reason };
    }
    setBusy(button, true);
    try {
      const path = `/v1/requests/${encodeURIComponent(request.request)}/${action}`;
      await api('POST', path, { token: staff(), json: action === 'acknowledge' ? undefined : body });
      say(t('rq_done', { id: request.request }));
    } catch (err) {
      setBusy(button, false);
      say(errorText(err));
      return;
    }
    await load(false);
  }

  function renderRequests(data) {
    const s = data.summary;
    $('rq-summary').textContent = t('rq_summary', { open: s.open, late: s.late, done: s.completed });
    if (!data.requests.length) {
      $('requests').replaceChildren(el('p', { class: 'muted', text: t('rq_none') }));
      return;
    }
    const rows = data.requests.map((r) => {
      const open = r.status === 'open' || r.status === 'acknowledged';
      const actions = el('span', { class: 'actions inline' });
      if (r.status === 'open') {
        actions.append(el('button', { type: 'button', class: 'ack', text: t('rq_ack'),
          onclick: (ev) => act(ev.currentTarget, r, 'acknowledge') }));
      }
      if (open) {
        actions.append(
          el('button', { type: 'button', class: 'complete primary', text: t('rq_complete'),
            onclick: (ev) => act(ev.currentTarget, r, 'complete') }),
          el('button', { type: 'button', class: 'refuse', text: t('rq_refuse'),
            onclick: (ev) => act(ev.currentTarget, r, 'refuse') }));
      }
      return el('tr', { 'data-request': r.request, class: r.late.length && open ? 'late' : '' },
        el('td', {}, el('strong', { text: t('kind_' + r.kind) }),
          r.purpose ? ` (${FK.purposeName(r.purpose)})` : '', el('br'),
          el('span', { class: 'muted', text: `${t('channel_' + r.channel)} · ${r.customer || '—'}` })),
        el('td', { text: fmtDate(r.received_at) }),
        el('td', {}, fmtDate(r.acknowledge_by), ' ', r.late.includes('acknowledge') && open ? lateBadge(['x']) : ''),
        el('td', {}, fmtDate(r.complete_by), ' ', r.late.includes('complete') && open ? lateBadge(['x']) : ''),
        el('td', {}, t('rqstatus_' + r.status), r.outcome ? el('br') : '',
          r.outcome ? el('span', { class: 'muted', text: r.outcome }) : ''),
        el('td', {}, actions));
    });
    $('requests').replaceChildren(el('div', { class: 'table-wrap', tabindex: 0, role: 'region',
      'aria-labelledby': 'rq-h' }, el('table', { id: 'requests-table' },
      el('thead', {}, el('tr', {}, ['rq_col_request', 'rq_col_received', 'rq_col_ack', 'rq_col_due',
        'rq_col_status', 'rq_complete'].map((k) => el('th', { scope: 'col', text: t(k) })))),
      el('tbody', {}, rows))));
  }

  $('rq-open-only').addEventListener('change', () => load(false));

  $('rq-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('rq-error').textContent = '';
    const json = { kind: $('rq-kind').value, channel: $('rq-channel').value };
    if ($('rq-customer').value.trim()) json.customer = $('rq-customer').value.trim();
    if ($('rq-note').value.trim()) json.note = $('rq-note').value.trim();
    const received = toLocalIso($('rq-received').value);
    if (received) json.received_at = received;
    const button = ev.target.querySelector('button[type="submit"]');
    setBusy(button, true);
    try {
      const out = await api('POST', '/v1/requests', { token: staff(), json });
      say(t('rq_done', { id: out.request }));
      ev.target.reset();
    } catch (err) {
      $('rq-error').textContent = errorText(err);
      return;
    } finally {
      setBusy(button, false);
    }
    await load(false);
  });

  // ------------------------------------------------------------------ breaches

  const STEPS = ['contained', 'authority_notified', 'subjects_notified', 'note', 'closed'];

  async function step(breach, select, button) {
    const name = select.value;
    const note = await ask(t('br_step_' + name), t('rq_note'), t('br_step'), name === 'note');
    if (note === null) return;
    setBusy(button, true);
    try {
      await api('POST', `/v1/breaches/${encodeURIComponent(breach.breach)}/steps`, {
        token: staff(), json: { step: name, note },
      });
    } catch (err) {
      setBusy(button, false);
      say(errorText(err));
      return;
    }
    await load(false);
  }

  async function drafts(breach, box) {
    try {
      const out = await api('GET', `/v1/breaches/${encodeURIComponent(breach.breach)}/drafts?lang=${FK.LANG}`,
        { token: staff() });
      box.replaceChildren(el('pre', { class: 'draft', text: out.authority }),
        el('pre', { class: 'draft', text: out.guests }));
    } catch (err) {
      box.replaceChildren(el('p', { class: 'error', text: errorText(err) }));
    }
  }

  function renderBreaches(data) {
    if (!data.breaches.length) {
      $('breaches').replaceChildren(el('p', { class: 'muted', text: t('br_none') }));
      return;
    }
    $('breaches').replaceChildren(...data.breaches.map((b) => {
      const clock = b.hours_left === null ? ''
        : b.hours_left >= 0 ? el('span', { class: 'badge', text: t('br_left', { h: Math.floor(b.hours_left) }) })
          : el('span', { class: 'badge late', text: t('br_overdue') });
      const box = el('div', { class: 'drafts' });
      const select = el('select', { 'aria-label': t('br_step') },
        STEPS.map((s) => el('option', { value: s, text: t('br_step_' + s) })));
      const card = el('article', { class: 'breach', 'data-breach': b.breach },
        el('h3', {}, `${fmtDate(b.discovered_at)} · ${b.description} `, clock),
        el('p', { class: 'muted', text: `${t('br_affected', { n: b.affected_customers })} · ${t('br_keep', { date: FK.fmtNumDay(b.keep_until) })}` }),
        el('ul', { class: 'plain steps' }, b.steps.map((s) => el('li', {},
          `${fmtDate(s.at)}: ${t('br_step_' + s.step)}${s.note && s.step !== 'opened' ? ' · ' + s.note : ''}`))));
      if (b.status === 'open') {
        const go = el('button', { type: 'button', text: t('br_step'),
          onclick: (ev) => step(b, select, ev.currentTarget) });
        card.append(el('div', { class: 'actions inline' }, select, go));
      }
      card.append(el('div', { class: 'actions' }, el('button', { type: 'button', text: t('br_drafts'),
        onclick: () => drafts(b, box) })), box);
      return card;
    }));
  }

  $('br-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('br-error').textContent = '';
    const json = { description: $('br-description').value.trim() };
    const discovered = toLocalIso($('br-discovered').value);
    if (discovered) json.discovered_at = discovered;
    const venues = $('br-venues').value.split(',').map((v) => v.trim()).filter(Boolean);
    if (venues.length) json.venues = venues;
    const button = ev.target.querySelector('button[type="submit"]');
    setBusy(button, true);
    try {
      await api('POST', '/v1/breaches', { token: staff(), json });
      ev.target.reset();
    } catch (err) {
      $('br-error').textContent = errorText(err);
      return;
    } finally {
      setBusy(button, false);
    }
    await load(false);
  });

  // ------------------------------------------------------------------ loading

  let loads = 0; // loads begun: an older one answering late must not redraw newer data

  async function load(focus) {
    if (!staff()) {
      showLogin('');
      return;
    }
    const mine = ++loads;
    let requests;
    let breaches;
    try {
      const due = $('rq-open-only').checked ? '?due=true' : '';
      [requests, breaches] = await Promise.all([
        api('GET', '/v1/requests' + due, { token: staff() }),
        api('GET', '/v1/breaches', { token: staff() }),
      ]);
      if (mine !== loads) return;
    } catch (err) {
      if (mine !== loads) return;
      if (err.status === 401 || err.status === 403) store.del('staffKey');
      showLogin(errorText(err));
      return;
    }
    renderRequests(requests);
    renderBreaches(breaches);
    $('login-section').hidden = true;
    $('work-section').hidden = false;
    if (focus) $('rq-h').focus();
  }

  load(false);
})();
