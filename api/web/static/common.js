/* facekeep pages: shared helpers (strings, DOM, JSON API calls, receipts).
 * Plain JavaScript, no external code: everything is served by facekeep itself.
 * Secrets (staff key, access code, auditor key) live only in sessionStorage of this tab.
 */
'use strict';

(function () {
  const T = JSON.parse(document.getElementById('fk-strings').textContent);
  const LANG = document.documentElement.lang || 'vi';
  const LOCALE = LANG === 'vi' ? 'vi-VN' : 'en-GB';
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
    return d.toLocaleString(LOCALE, { dateStyle: 'medium', timeStyle: 'short' });
  }

  function fmtDay(d) {
    return d.toLocaleDateString(LOCALE, { dateStyle: 'long' });
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

  /** Print only ``target`` (the receipt), with the print stylesheet. */
  function printOnly(target) {
    document.body.classList.add('print-receipt');
    target.classList.add('print-target');
    const done = () => {
      document.body.classList.remove('print-receipt');
      target.classList.remove('print-target');
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

  function purposeName(p) {
    return has(T, 'purpose_' + p) ? T['purpose_' + p] : p;
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

  /** A signed receipt (consent or destruction) as readable markup. */
  function renderReceipt(doc, level) {
    const r = doc.receipt || {};
    const destruction = String(r.version || '').startsWith('facekeep-destruction-receipt');
    const id = 'receipt-' + String(r.receipt_id || Math.random()).replace(/[^A-Za-z0-9_-]/g, '');
    const title = t(destruction ? 'receipt_destruction' : 'receipt_consent');
    const rows = [
      [t('r_receipt_id'), hash(r.receipt_id)],
      [t('r_timestamp'), fmtDate(r.timestamp)],
      [t('r_controller'), r.controller && r.controller.name],
      [t('r_jurisdiction'), r.jurisdiction],
      [t('r_customer'), hash(r.pii_principal_id)],
    ];
    if (destruction) {
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
          (s.venues || []).join(', '), ' · ', t('r_until'), ': ',
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
    return el('article', { class: 'receipt', 'aria-labelledby': id },
      el(level || 'h3', { id, text: title }), kv(rows));
  }

  function receiptFilename(doc) {
    const r = doc.receipt || {};
    const kind = String(r.version || '').startsWith('facekeep-destruction') ? 'destruction' : 'consent';
    return `facekeep-${kind}-receipt-${r.receipt_id || 'unknown'}.json`;
  }

  window.FK = {
    LANG, t, el, api, ApiError, errorText, fmtDate, fmtDay, store, downloadBlob, downloadJson,
    printOnly, reveal, setBusy, purposeName, kv, hash, renderReceipt, receiptFilename,
  };
})();
