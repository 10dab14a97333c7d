/* facekeep pages: shared helpers (strings, DOM, JSON API calls, receipts).
 * Plain JavaScript, no external code: everything is served by facekeep itself.
 * Secrets (a staff session token, an access code, an auditor or operator key) live only
 * in sessionStorage of this tab.
 */
'use strict';

(function () {
  let T = JSON.parse(document.getElementById('fk-strings').textContent);
  const allStrings = document.getElementById('fk-strings-all');
  const ALL = allStrings ? JSON.parse(allStrings.textContent) : null;
  let LANG = document.documentElement.lang || 'vi';
  const locale = () => (LANG === 'vi' ? 'vi-VN' : 'en-GB');
  const has = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);

  /** A page string, with {name} placeholders filled in. */
  function t(key, vars) {
    let s = has(T, key) ? T[key] : key;
    for (const [k, v] of Object.entries(vars || {})) s = s.split('{' + k + '}').join(String(v));
    return s;
  }

  /** Build an element; text always goes in as text, never as HTML. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  // ---------------------------------------------------------------- language

  /** Put the current language's strings into every element marked data-t (its text),
   * data-t-aria-label or data-t-alt; data-tv-NAME attributes fill {name}. */
  function applyStrings(root) {
    for (const node of (root || document).querySelectorAll('[data-t]')) {
      const vars = {};
      for (const [k, v] of Object.entries(node.dataset)) {
        if (k.startsWith('tv') && k.length > 2) vars[k[2].toLowerCase() + k.slice(3)] = v;
      }
      if ('tvOrigin' in node.dataset) vars.origin = window.location.origin;
      node.textContent = t(node.dataset.t, vars);
    }
    for (const node of (root || document).querySelectorAll('[data-t-aria-label]')) {
      node.setAttribute('aria-label', t(node.dataset.tAriaLabel));
    }
    for (const node of (root || document).querySelectorAll('[data-t-alt]')) {
      node.setAttribute('alt', t(node.dataset.tAlt));
    }
  }

  /** Switch the page to ``lang`` without reloading it (pages that carry both languages):
   * nothing on the screen is lost. Page scripts listen for the ``fk:lang`` event. */
  function setLang(lang) {
    if (!ALL || !has(ALL, lang) || lang === LANG) return;
    LANG = lang;
    T = ALL[lang];
    document.documentElement.lang = lang;
    applyStrings(document);
    const titleKey = document.body.dataset.titleKey;
    if (titleKey) document.title = t(titleKey) + ' · facekeep';
    for (const a of document.querySelectorAll('.lang-switch a')) {
      if (a.hreflang === lang) a.setAttribute('aria-current', 'true');
      else a.removeAttribute('aria-current');
    }
    for (const a of document.querySelectorAll('a[data-lang-href]')) {
      const url = new URL(a.href, window.location.href);
      url.searchParams.set('lang', lang);
      a.href = url.pathname + url.search;
    }
    const here = new URL(window.location.href);
    here.searchParams.set('lang', lang);
    history.replaceState(history.state, '', here.pathname + here.search + here.hash);
    document.dispatchEvent(new CustomEvent('fk:lang', { detail: { lang } }));
  }

  if (ALL && document.body.hasAttribute('data-inpage-lang')) {
    for (const a of document.querySelectorAll('.lang-switch a')) {
      a.addEventListener('click', (ev) => {
        ev.preventDefault();
        setLang(a.hreflang);
      });
    }
  }
  applyStrings(document);

  // ---------------------------------------------------------------- the JSON API

  class ApiError extends Error {
    constructor(status, code, detail, body) {
      super(detail || code);
      this.status = status;
      this.code = code;
      this.detail = detail;
      this.body = body || {};
    }
  }

  /** Call the JSON API with a bearer secret; answers parsed JSON (or the Response if raw). */
  async function api(method, path, { token, json, form, raw } = {}) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    let body;
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (form) {
      body = form;
    }
    let res;
    try {
      res = await fetch(path, { method, headers, body, cache: 'no-store', credentials: 'omit' });
    } catch (e) {
      throw new ApiError(0, 'network', String(e));
    }
    const type = res.headers.get('content-type') || '';
    if (!res.ok) {
      let data = {};
      if (type.includes('json')) {
        try { data = await res.json(); } catch (e) { data = {}; }
      }
      throw new ApiError(res.status, data.code || 'http_' + res.status, data.detail || res.statusText, data);
    }
    if (raw) return res;
    return type.includes('json') ? res.json() : res.blob();
  }

  /** A sentence for an error, in the page's language. */
  function errorText(err) {
    if (err instanceof ApiError) {
      if (err.code === 'network') return t('err_network');
      if (has(T, 'err_' + err.code)) return T['err_' + err.code];
      return t('err_generic', { detail: err.detail || err.code });
    }
    return t('err_generic', { detail: String((err && err.message) || err) });
  }

  function fmtDate(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return d.toLocaleString(locale(), { dateStyle: 'medium', timeStyle: 'short' });
  }

  function fmtDay(d) {
    return d.toLocaleDateString(locale(), { dateStyle: 'long' });
  }

  /** A date as 30/11/2026, the way both languages write it in a sentence. */
  function fmtNumDay(iso) {
    const d = iso instanceof Date ? iso : new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return d.toLocaleDateString('en-GB', { day: '2-digit', month: '2-digit', year: 'numeric' });
  }

  const PREFIX = 'facekeep.';
  const store = {
    get(k) { try { return sessionStorage.getItem(PREFIX + k); } catch (e) { return null; } },
    set(k, v) { try { sessionStorage.setItem(PREFIX + k, v); } catch (e) { /* private mode */ } },
    del(k) { try { sessionStorage.removeItem(PREFIX + k); } catch (e) { /* private mode */ } },
    getJson(k) {
      const v = store.get(k);
      if (v === null) return null;
      try { return JSON.parse(v); } catch (e) { return null; }
    },
    setJson(k, v) { store.set(k, JSON.stringify(v)); },
  };

  function downloadBlob(filename, blob) {
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: filename, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 30000);
  }

  function downloadJson(filename, value) {
    const blob = new Blob([JSON.stringify(value, null, 2) + '\n'], { type: 'application/json' });
    downloadBlob(filename, blob);
  }

  /** Print only ``target`` (the receipt), with the print stylesheet; the browser's print
   * dialog offers "Save as PDF". Technical details are opened for the copy. */
  function printOnly(target) {
    document.body.classList.add('print-receipt');
    target.classList.add('print-target');
    const folded = [...target.querySelectorAll('details:not([open])')];
    folded.forEach((d) => { d.open = true; });
    const done = () => {
      document.body.classList.remove('print-receipt');
      target.classList.remove('print-target');
      folded.forEach((d) => { d.open = false; });
      window.removeEventListener('afterprint', done);
    };
    window.addEventListener('afterprint', done);
    window.print();
  }

  /** Show one element and move the focus to its heading (for screen readers and
   * keyboards), except when the page has just loaded: then the focus stays at the top. */
  function reveal(section, heading, focus = true) {
    section.hidden = false;
    const h = heading || section.querySelector('[tabindex="-1"]');
    if (h && focus) h.focus({ preventScroll: false });
  }

  function setBusy(button, busy, label) {
    if (busy) {
      button.dataset.label = button.textContent;
      button.textContent = label || t('working');
      button.disabled = true;
      button.setAttribute('aria-busy', 'true');
    } else {
      if (button.dataset.label) button.textContent = button.dataset.label;
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  }

  /** Ask in a modal dialog (``dialog`` has buttons .confirm-yes and .confirm-no);
   * resolves true or false. */
  function confirmWith(dialog, yes, no) {
    return new Promise((resolve) => {
      const finish = (answer) => {
        yes.removeEventListener('click', onYes);
        no.removeEventListener('click', onNo);
        dialog.removeEventListener('cancel', onNo);
        dialog.close();
        resolve(answer);
      };
      const onYes = () => finish(true);
      const onNo = () => finish(false);
      yes.addEventListener('click', onYes);
      no.addEventListener('click', onNo);
      dialog.addEventListener('cancel', onNo);
      dialog.showModal();
      no.focus();
    });
  }

  function purposeName(p) {
    return has(T, 'purpose_' + p) ? T['purpose_' + p] : p;
  }

  function joinWords(items) {
    if (items.length <= 1) return items.join('');
    return items.slice(0, -1).join(', ') + ' ' + t('and') + ' ' + items[items.length - 1];
  }

  function kv(rows) {
    const dl = el('dl', { class: 'kv' });
    for (const [label, value] of rows) {
      if (value === null || value === undefined || value === '') continue;
      dl.append(el('dt', { text: label }), el('dd', {}, value));
    }
    return dl;
  }

  function hash(value) {
    return el('code', { class: 'hash', text: String(value) });
  }

  function isDestruction(doc) {
    return String(((doc || {}).receipt || {}).version || '').startsWith('facekeep-destruction');
  }

  /** One plain sentence that says what the receipt records, in the page's language,
   * with venue names (``venues`` maps ids to names) rather than ids. */
  function receiptSentence(doc, venues) {
    const r = doc.receipt || {};
    const date = fmtNumDay(r.timestamp);
    const name = (id) => (venues && venues[id]) || id;
    if (isDestruction(doc)) {
      const reason = String(r.reason || '');
      let why;
      if (reason === 'customer request' || reason === 'data-subject request') why = t('why_request');
      else if (reason === 'retention') why = t('why_retention');
      else why = t('why_other', { reason });
      return t('r_sentence_destroyed', { date, controller: (r.controller || {}).name || '', why });
    }
    const services = r.services || [];
    const places = [...new Set(services.flatMap((s) => s.venues || []))].map(name);
    const purposes = services.map((s) => purposeName(s.purpose));
    const ends = services.map((s) => s.termination);
    const until = ends.length && ends.every((e) => e && e !== 'until withdrawn')
      ? t('r_until_date', { date: fmtNumDay(ends.sort().slice(-1)[0]) })
      : t('r_until_open');
    return t('r_sentence_consent', {
      date, venues: joinWords(places), purposes: joinWords(purposes), until,
    });
  }

  /** The technical fields of a receipt, as label/value rows. */
  function receiptRows(doc, venues) {
    const r = doc.receipt || {};
    const venueName = (id) => (venues && venues[id] ? `${venues[id]} (${id})` : id);
    const rows = [
      [t('r_receipt_id'), hash(r.receipt_id)],
      [t('r_timestamp'), fmtDate(r.timestamp)],
      [t('r_controller'), r.controller && r.controller.name],
      [t('r_jurisdiction'), r.jurisdiction],
      [t('r_customer'), hash(r.pii_principal_id)],
    ];
    if (isDestruction(doc)) {
      rows.push(
        [t('r_destroyed_keys'), el('ul', { class: 'plain' }, (r.destroyed_keys || []).map(
          (k) => el('li', {}, hash(k.key_id), ' · ', t('r_commitment'), ' ', hash(k.commitment))))],
        [t('r_destroy_method'), r.method],
        [t('r_reason'), r.reason],
        [t('r_log_index'), String(r.log_index)],
        [t('r_kek_epoch'), r.kek_epoch === null || r.kek_epoch === undefined ? '' : String(r.kek_epoch)],
      );
    } else {
      const services = r.services || [];
      rows.push(
        [t('r_consent_id'), hash(r.consent_id)],
        [t('r_purposes'), el('ul', { class: 'plain' }, services.map((s) => el('li', {},
          el('strong', { text: purposeName(s.purpose) }), ' · ', t('r_venues'), ': ',
          (s.venues || []).map(venueName).join(', '), ' · ', t('r_until'), ': ',
          s.termination === 'until withdrawn' ? t('r_until_withdrawn') : fmtDate(s.termination))))],
        [t('r_notice'), el('span', {}, String((r.notice || {}).version || ''), ' · SHA-256 ',
          hash((r.notice || {}).sha256 || ''))],
        [t('r_language'), r.language],
        [t('r_method'), r.collection_method],
        [t('r_device'), r.collection_device],
        [t('r_sensitive'), t('yes')],
        [t('r_third_party'), r.third_party_disclosure === 'none' ? t('none') : r.third_party_disclosure],
      );
    }
    rows.push([t('r_signature'), hash(doc.signature)], [t('r_signing_key'), hash(doc.key_id)]);
    return rows;
  }

  /** A signed receipt (consent or destruction): one plain sentence first, the technical
   * fields folded under "Technical details". */
  function renderReceipt(doc, level, venues) {
    const r = doc.receipt || {};
    const id = 'receipt-' + String(r.receipt_id || Math.random()).replace(/[^A-Za-z0-9_-]/g, '');
    const title = t(isDestruction(doc) ? 'receipt_destruction' : 'receipt_consent');
    return el('article', { class: 'receipt', 'aria-labelledby': id },
      el(level || 'h3', { id, text: title }),
      el('p', { class: 'sentence', text: receiptSentence(doc, venues) }),
      el('details', { class: 'tech' }, el('summary', { text: t('tech_details') }),
        kv(receiptRows(doc, venues))));
  }

  function receiptFilename(doc, ext) {
    const r = doc.receipt || {};
    const kind = isDestruction(doc) ? 'destruction' : 'consent';
    return `facekeep-${kind}-receipt-${r.receipt_id || 'unknown'}.${ext || 'json'}`;
  }

  /** The receipt as a PNG picture (title, sentence, then every field), downloaded. */
  function saveReceiptImage(doc, venues) {
    const width = 1000;
    const pad = 40;
    const canvas = el('canvas', { width, height: 10 });
    const ctx = canvas.getContext('2d');
    const lines = [];
    const wrap = (text, font, color) => {
      ctx.font = font;
      let line = '';
      for (const word of String(text).split(/\s+/)) {
        const next = line ? line + ' ' + word : word;
        if (ctx.measureText(next).width > width - 2 * pad && line) {
          lines.push({ text: line, font, color });
          line = word;
        } else {
          line = next;
        }
      }
      lines.push({ text: line, font, color });
    };
    wrap(t(isDestruction(doc) ? 'receipt_destruction' : 'receipt_consent'), 'bold 30px sans-serif', '#12263f');
    lines.push({ text: '', font: '12px sans-serif' });
    wrap(receiptSentence(doc, venues), '22px sans-serif', '#111111');
    lines.push({ text: '', font: '12px sans-serif' });
    for (const [label, value] of receiptRows(doc, venues)) {
      const text = value instanceof Node ? value.textContent : value;
      if (!text) continue;
      wrap(label, 'bold 15px sans-serif', '#444444');
      wrap(text, '15px monospace', '#111111');
    }
    const height = (f) => parseInt(f.match(/(\d+)px/)[1], 10) * 1.4;
    canvas.height = pad * 2 + lines.reduce((sum, l) => sum + height(l.font), 0);
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    let y = pad;
    for (const l of lines) {
      y += height(l.font);
      ctx.font = l.font;
      ctx.fillStyle = l.color || '#111111';
      ctx.fillText(l.text, pad, y - height(l.font) * 0.3);
    }
    canvas.toBlob((blob) => downloadBlob(receiptFilename(doc, 'png'), blob), 'image/png');
  }

  window.FK = {
    get LANG() { return LANG; },
    t, el, api, ApiError, errorText, fmtDate, fmtDay, fmtNumDay, store, downloadBlob, downloadJson,
    printOnly, reveal, setBusy, confirmWith, purposeName, joinWords, kv, hash, renderReceipt,
    receiptSentence, receiptFilename, saveReceiptImage, isDestruction, setLang, applyStrings,
  };
})();
