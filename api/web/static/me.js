/* The customer's own page: opened with the access code (typed in, or carried in the QR
 * link's fragment, which browsers never send to a server). Shows consents, template
 * counts and dates (never images), matches, receipts; revoke, object, retake, erase. */
'use strict';

(function () {
  const FK = window.FK;
  const { t, el, api, errorText, store, reveal, setBusy, purposeName, fmtDate } = FK;
  const $ = (id) => document.getElementById(id);

  const status = $('status');
  const loginSection = $('login-section');
  const dataSection = $('data-section');
  const erasedSection = $('erased-section');
  const dialog = $('erase-dialog');

  // A code in the link's fragment moves to this tab's storage and leaves the address bar.
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  if (fragment.get('code')) {
    store.set('code', fragment.get('code').trim().toUpperCase());
    store.del('erased');
    history.replaceState(null, '', window.location.pathname + window.location.search);
  }

  function code() {
    return store.get('code');
  }

  function say(text) {
    status.textContent = text;
  }

  function showLogin(error, focus = true) {
    dataSection.hidden = true;
    erasedSection.hidden = true;
    $('login-error').textContent = error || '';
    reveal(loginSection, null, false);
    if (focus) $('code').focus();
  }

  $('code-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const value = $('code').value.trim().toUpperCase();
    if (!value) {
      $('login-error').textContent = t('err_unauthorized');
      return;
    }
    store.set('code', value);
    store.del('erased');
    $('code').value = '';
    say('');
    await load(true);
  });

  async function load(focus) {
    let data;
    try {
      data = await api('GET', '/v1/me', { token: code() });
      await loadVenueNames();
    } catch (err) {
      if (err.status === 401) store.del('code');
      showLogin(errorText(err), focus);
      return;
    }
    render(data);
    loginSection.hidden = true;
    erasedSection.hidden = true;
    dataSection.hidden = false;
    if (focus) $('consents-h').focus();
  }

  // ------------------------------------------------------------------ rendering

  function statusBadge(state) {
    const ok = state === 'active';
    return el('span', { class: ok ? 'badge ok' : 'badge off', text: t('status_' + state) });
  }

  function purposeRow(c, p) {
    const item = el('li', { class: 'purpose-row' });
    let state;
    if (p.active) state = t('purpose_active');
    else if (p.revoked_at) state = t('purpose_revoked', { date: fmtDate(p.revoked_at) });
    else state = t('purpose_ended');
    item.append(
      el('span', { class: p.active ? 'badge ok' : 'badge off' }, purposeName(p.purpose), ': ', state));
    if (p.active) {
      // One clear action per purpose: check-in is withdrawn, marketing is objected to.
      const marketing = p.purpose === 'marketing';
      item.append(el('span', { class: 'actions inline' }, el('button', {
        type: 'button', 'data-purpose': p.purpose, class: 'stop ' + (marketing ? 'object' : 'revoke'),
        text: t(marketing ? 'stop_marketing' : 'stop_checkin'),
        onclick: (ev) => stop(ev.currentTarget, p.purpose),
      })));
    }
    return item;
  }

  let venueNames = {};

  async function loadVenueNames() {
    try {
      venueNames = (await api('GET', '/v1/pages/venues', { token: code() })).venues;
    } catch (err) {
      venueNames = {};
    }
  }

  const venueName = (id) => venueNames[id] || id;

  /** When the templates will be erased now that purposes were withdrawn, with "erase
   * now"; or which purposes still keep them. */
  function renderEraseAfter(data) {
    const box = $('erase-after');
    const active = [...new Set(data.consents.flatMap((c) => c.active_purposes))];
    const withdrawn = data.consents.some((c) => c.purposes.some((p) => p.revoked_at));
    const parts = [];
    if (active.length) {
      parts.push(t('erase_after_kept', { purposes: FK.joinWords(active.map(purposeName)) }));
    }
    if (data.erase_after) {
      parts.push(t('erase_after_text', { date: FK.fmtNumDay(data.erase_after) }));
    }
    $('erase-after-text').textContent = parts.join(' ');
    // Shown once a purpose was withdrawn (or none is left): when the templates go, and
    // "erase now".
    box.hidden = !(withdrawn || !active.length) || parts.length === 0;
  }

  function render(data) {
    $('who').replaceChildren(
      el('span', { text: t('me_customer', { id: data.customer }) }), el('br'),
      el('span', { text: t('me_key', {
        id: data.key.id, state: t('state_' + data.key.state),
      }) }));

    const consents = data.consents.map((c) => el('article', { class: 'consent' },
      el('h3', {}, c.purposes.map((p) => purposeName(p.purpose)).join(', '), ' ', statusBadge(c.status)),
      el('ul', { class: 'plain purposes' }, c.purposes.map((p) => purposeRow(c, p))),
      window.FK.kv([
        [t('consent_granted'), fmtDate(c.granted_at)],
        [t('consent_expires'), c.expires_at ? fmtDate(c.expires_at) : t('consent_never')],
        [t('r_venues'), c.venues.map(venueName).join(', ')],
        [t('consent_notice'), `${c.notice_version} (${c.notice_lang})`],
      ])));
    const anyActive = data.consents.some((c) => c.active_purposes.length > 0);
    $('consents').replaceChildren(...consents,
      anyActive ? '' : el('p', { class: 'muted', text: t('nothing_active') }));
    renderEraseAfter(data);

    const n = data.templates.count;
    $('templates-count').textContent = n === 1 ? t('templates_count_one') : t('templates_count', { n });
    $('templates').replaceChildren(...data.templates.items.map((item) => el('li', {
      text: t('template_row', { date: fmtDate(item.created_at), model: item.model }),
    })));

    const matches = data.matches || [];
    if (matches.length === 0) {
      $('matches').replaceChildren(el('p', { class: 'muted', text: t('matches_none') }));
    } else {
      $('matches').replaceChildren(el('div', { class: 'table-wrap', tabindex: 0, role: 'region',
        'aria-labelledby': 'matches-h' },
      el('table', {},
        el('thead', {}, el('tr', {}, ['col_time', 'col_venue', 'col_purpose'].map(
          (k) => el('th', { scope: 'col', text: t(k) })))),
        el('tbody', {}, matches.slice().reverse().map((m) => el('tr', {},
          el('td', { text: fmtDate(m.at) }), el('td', { text: venueName(m.venue || '') }),
          el('td', { text: purposeName(m.purpose || '') })))))));
    }

    $('receipts').replaceChildren(...(data.receipts || []).map((doc) => {
      const r = doc.receipt || {};
      const destruction = String(r.version || '').startsWith('facekeep-destruction');
      return el('details', { class: 'receipt-box' },
        el('summary', {}, t(destruction ? 'receipt_destruction' : 'receipt_consent'), ' · ', fmtDate(r.timestamp)),
        FK.renderReceipt(doc, 'h3', venueNames),
        el('div', { class: 'actions' }, el('button', {
          type: 'button', text: t('save_image'),
          onclick: () => FK.saveReceiptImage(doc, venueNames),
        }), el('button', {
          type: 'button', text: t('download_json'),
          onclick: () => FK.downloadJson(FK.receiptFilename(doc), doc),
        })));
    }));
  }

  // ------------------------------------------------------------------ rights

  /** Withdraw check-in or object to marketing, after a confirmation that says what
   * changes. */
  async function stop(button, purpose) {
    const marketing = purpose === 'marketing';
    $('stop-dialog-h').textContent = t(marketing ? 'confirm_marketing_title' : 'confirm_checkin_title');
    $('stop-dialog-text').textContent = t(marketing ? 'confirm_marketing_text' : 'confirm_checkin_text');
    $('stop-error').textContent = '';
    const sure = await FK.confirmWith($('stop-dialog'), $('stop-confirm'), $('stop-cancel'));
    if (!sure) {
      button.focus();
      return;
    }
    setBusy(button, true);
    try {
      if (marketing) {
        await api('POST', '/v1/me/objections', { token: code(), json: { purpose } });
        say(t('objected_done'));
      } else {
        await api('POST', '/v1/me/revoke', { token: code(), json: { purpose } });
        say(t('revoked_done', { purpose: purposeName(purpose) }));
      }
    } catch (err) {
      setBusy(button, false);
      say(errorText(err));
      return;
    }
    await load(false);
    $('consents-h').focus();
  }

  $('retake-files').addEventListener('change', (ev) => {
    const n = ev.target.files.length;
    $('retake-chosen').textContent = n === 0 ? '' : n === 1 ? t('files_chosen_one') : t('files_chosen', { n });
  });

  $('retake-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const input = $('retake-files');
    const error = $('retake-error');
    error.textContent = '';
    if (input.files.length < 1 || input.files.length > 5) {
      error.textContent = t('retake_need');
      input.focus();
      return;
    }
    const form = new FormData();
    for (const file of input.files) form.append('image', file, file.name);
    const button = ev.target.querySelector('button[type="submit"]');
    setBusy(button, true);
    try {
      const out = await api('PUT', '/v1/me/templates', { token: code(), form });
      input.value = '';
      $('retake-chosen').textContent = '';
      say(out.templates === 1 ? t('retake_done_one') : t('retake_done', { n: out.templates }));
    } catch (err) {
      error.textContent = errorText(err);
      return;
    } finally {
      setBusy(button, false);
    }
    await load(false);
  });

  // ------------------------------------------------------------------ erasure

  function openErase() {
    $('erase-error').textContent = '';
    dialog.showModal();
    $('erase-cancel').focus();
  }
  $('erase-open').addEventListener('click', openErase);
  $('erase-now').addEventListener('click', openErase);
  $('erase-cancel').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    if (!erasedSection.hidden) return;
    $('erase-open').focus();
  });

  $('erase-confirm').addEventListener('click', async (ev) => {
    const button = ev.currentTarget;
    setBusy(button, true);
    let out;
    try {
      out = await api('DELETE', '/v1/me', { token: code() });
    } catch (err) {
      setBusy(button, false);
      $('erase-error').textContent = errorText(err);
      return;
    }
    setBusy(button, false);
    store.del('code');
    out.venues = venueNames;
    store.setJson('erased', out);
    dataSection.hidden = true;
    showErased(out);
    dialog.close();
    $('erased-h').focus();
  });

  function showErased(out, focus = true) {
    loginSection.hidden = true;
    dataSection.hidden = true;
    say('');
    const box = $('destruction-receipt');
    if (out.receipt) {
      box.replaceChildren(FK.renderReceipt(out.receipt, 'h3', out.venues || {}));
    } else {
      box.replaceChildren(window.FK.kv([
        [t('r_customer'), window.FK.hash(out.customer)],
        [t('r_destroyed_keys'), (out.destroyed_key_ids || []).join(', ')],
        [t('r_timestamp'), fmtDate(out.erased_at)],
      ]));
    }
    reveal(erasedSection, $('erased-h'), focus);
  }

  $('erased-print').addEventListener('click', () => FK.printOnly(erasedSection));
  $('erased-image').addEventListener('click', () => {
    const out = store.getJson('erased');
    if (out && out.receipt) FK.saveReceiptImage(out.receipt, out.venues || {});
  });
  $('erased-download').addEventListener('click', () => {
    const out = store.getJson('erased');
    if (out && out.receipt) window.FK.downloadJson(window.FK.receiptFilename(out.receipt), out.receipt);
    else if (out) window.FK.downloadJson('facekeep-erasure.json', out);
  });
  $('erased-close').addEventListener('click', async () => {
    // The receipt is the guest's proof: closing it asks first.
    const sure = await FK.confirmWith($('close-dialog'), $('close-confirm'), $('close-cancel'));
    if (!sure) {
      $('erased-close').focus();
      return;
    }
    store.del('erased');
    showLogin();
  });

  $('forget').addEventListener('click', () => {
    store.del('code');
    say('');
    showLogin();
  });

  // ------------------------------------------------------------------ start

  const erased = store.getJson('erased');
  if (erased) showErased(erased, false);
  else if (code()) load(false);
  else showLogin('', false);
})();
