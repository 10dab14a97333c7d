/* The auditor's page: the latest signed tree head (its Ed25519 signature checked here),
 * a search by customer or key id showing key states and receipts, each receipt checked
 * in this page (signature, hash in the log, RFC 9162 inclusion proof up to the signed
 * root, destroyed keys against the key store), and the export for offline verification. */
'use strict';

(function () {
  const { t, el, api, errorText, store, reveal, setBusy, fmtDate, hash, kv } = window.FK;
  const $ = (id) => document.getElementById(id);
  const enc = new TextEncoder();

  // ------------------------------------------------------------------ hashing

  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);

  /** SHA-256 in plain JavaScript, for pages served over plain HTTP on a venue's network,
   * where browsers hide WebCrypto (it needs a secure context). */
  function sha256Plain(bytes) {
    const len = bytes.length;
    const padded = new Uint8Array(((len + 9 + 63) >> 6) << 6);
    padded.set(bytes);
    padded[len] = 0x80;
    const view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, Math.floor(len / 0x20000000));
    view.setUint32(padded.length - 4, (len << 3) >>> 0);
    const H = new Uint32Array([
      0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ]);
    const W = new Uint32Array(64);
    const rotr = (x, n) => (x >>> n) | (x << (32 - n));
    for (let off = 0; off < padded.length; off += 64) {
      for (let i = 0; i < 16; i++) W[i] = view.getUint32(off + i * 4);
      for (let i = 16; i < 64; i++) {
        const s0 = rotr(W[i - 15], 7) ^ rotr(W[i - 15], 18) ^ (W[i - 15] >>> 3);
        const s1 = rotr(W[i - 2], 17) ^ rotr(W[i - 2], 19) ^ (W[i - 2] >>> 10);
        W[i] = (W[i - 16] + s0 + W[i - 7] + s1) >>> 0;
      }
      let [a, b, c, d, e, f, g, h] = H;
      for (let i = 0; i < 64; i++) {
        const S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        const ch = (e & f) ^ (~e & g);
        const t1 = (h + S1 + ch + K[i] + W[i]) >>> 0;
        const S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        const maj = (a & b) ^ (a & c) ^ (b & c);
        const t2 = (S0 + maj) >>> 0;
        h = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
      }
      H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
    }
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    H.forEach((v, i) => outView.setUint32(i * 4, v));
    return out;
  }

  async function sha256(bytes) {
    if (window.crypto && window.crypto.subtle) {
      return new Uint8Array(await window.crypto.subtle.digest('SHA-256', bytes));
    }
    return sha256Plain(bytes);
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  function fromHex(text) {
    if (typeof text !== 'string' || !/^([0-9a-f]{2})*$/i.test(text)) throw new Error('not hex');
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
    return out;
  }
  function fromBase64(text) {
    const bin = atob(text);
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }

  /** RFC 6962 leaf hash: SHA-256(0x00 || leaf). */
  const leafHash = (bytes) => sha256(concat(new Uint8Array([0]), bytes));
  /** RFC 6962 node hash: SHA-256(0x01 || left || right). */
  const nodeHash = (left, right) => sha256(concat(new Uint8Array([1]), left, right));

  /** The root that an inclusion proof leads to (RFC 9162 section 2.1.3.2), or null when the
   * proof has the wrong shape for this index and tree size. */
  async function rootFromInclusionProof(leaf, index, size, proof) {
    if (!(Number.isInteger(index) && Number.isInteger(size) && index >= 0 && index < size)) return null;
    let fn = index;
    let sn = size - 1;
    let r = leaf;
    for (const p of proof) {
      if (sn === 0) return null;
      if ((fn & 1) === 1 || fn === sn) {
        r = await nodeHash(p, r);
        if ((fn & 1) === 0) {
          while ((fn & 1) === 0 && fn !== 0) { fn >>= 1; sn >>= 1; }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1;
      sn >>= 1;
    }
    return sn === 0 ? r : null;
  }

  async function verifyInclusion(leaf, index, size, proof, root) {
    const computed = await rootFromInclusionProof(leaf, index, size, proof);
    return computed !== null && toHex(computed) === toHex(root);
  }

  /** The log's canonical JSON: sorted keys, no spaces, UTF-8 kept (as vault.audit). */
  function canonicalJson(value) {
    if (value === null || typeof value !== 'object') return JSON.stringify(value);
    if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']';
    return '{' + Object.keys(value).sort().map(
      (k) => JSON.stringify(k) + ':' + canonicalJson(value[k])).join(',') + '}';
  }

  // ------------------------------------------------------------------ signatures

  let publicKey = null; // {key_id, key (CryptoKey) or null when Ed25519 is unavailable}

  async function loadPublicKey() {
    const info = await api('GET', '/.well-known/facekeep-audit-key');
    const der = fromBase64(info.public_key_pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''));
    // The key id is the first 16 hex digits of SHA-256 of the raw 32-byte key.
    const idOk = toHex(await sha256(der.slice(-32))).slice(0, 16) === info.key_id;
    let key = null;
    try {
      key = await window.crypto.subtle.importKey('spki', der, { name: 'Ed25519' }, false, ['verify']);
    } catch (e) {
      key = null;
    }
    publicKey = { key_id: info.key_id, key, idOk };
  }

  /** true, false, or null when this browser cannot check Ed25519. */
  async function verifySignature(keyId, signatureB64, message) {
    if (!publicKey || !publicKey.key) return null;
    if (keyId !== publicKey.key_id || !publicKey.idOk) return false;
    try {
      return await window.crypto.subtle.verify(
        { name: 'Ed25519' }, publicKey.key, fromBase64(signatureB64), enc.encode(message));
    } catch (e) {
      return false;
    }
  }

  function checkItem(label, ok) {
    const mark = ok === true ? '✓' : ok === false ? '✗' : '–';
    const word = ok === true ? t('check_ok') : ok === false ? t('check_fail') : t('check_skipped');
    const cls = ok === true ? 'check ok' : ok === false ? 'check fail' : 'check';
    return el('li', { class: cls, 'data-ok': String(ok) },
      el('span', { class: 'mark', 'aria-hidden': 'true', text: mark }), ' ', label, ': ',
      el('strong', { text: word }));
  }

  // ------------------------------------------------------------------ sign-in and head

  const loginSection = $('login-section');
  const auditSection = $('audit-section');
  let head = null;

  function key() {
    return store.get('auditor');
  }

  function showLogin(error, focus = true) {
    auditSection.hidden = true;
    $('login-error').textContent = error || '';
    reveal(loginSection, null, false);
    if (focus) $('auditor-key').focus();
  }

  $('key-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const value = $('auditor-key').value.trim();
    if (!value) {
      $('login-error').textContent = t('err_unauthorized');
      return;
    }
    try {
      await api('GET', '/v1/audit/head', { token: value });
    } catch (err) {
      $('login-error').textContent = errorText(err);
      return;
    }
    store.set('auditor', value);
    $('auditor-key').value = '';
    await showAudit(true);
  });

  $('sign-out').addEventListener('click', () => {
    store.del('auditor');
    $('results').replaceChildren();
    showLogin();
  });

  async function loadHead() {
    head = await api('GET', '/v1/audit/head', { token: key() });
    if (!publicKey) await loadPublicKey();
    const body = Object.fromEntries(Object.entries(head).filter(([k]) => k !== 'signature' && k !== 'alg'));
    const ok = await verifySignature(head.key_id, head.signature, canonicalJson(body));
    $('head').replaceChildren(...kv([
      [t('head_size'), String(head.tree_size)],
      [t('head_root'), hash(head.root_hash)],
      [t('head_time'), fmtDate(head.timestamp)],
      [t('head_key'), hash(head.key_id)],
      [t('r_signature'), hash(head.signature)],
    ]).childNodes);
    const sig = $('head-signature');
    sig.className = ok === true ? 'check ok' : ok === false ? 'check fail' : 'check';
    sig.dataset.ok = String(ok);
    sig.textContent = (ok === true ? '✓ ' : ok === false ? '✗ ' : '– ') +
      t(ok === true ? 'sig_ok' : ok === false ? 'sig_bad' : 'sig_unchecked');
    return head;
  }

  async function showAudit(focus) {
    loginSection.hidden = true;
    auditSection.hidden = false;
    try {
      await loadHead();
    } catch (err) {
      if (err.status === 401) {
        store.del('auditor');
        showLogin(errorText(err), focus);
        return;
      }
      $('head-signature').textContent = errorText(err);
    }
    if (focus) $('head-h').focus();
  }

  $('refresh').addEventListener('click', async (ev) => {
    setBusy(ev.currentTarget, true);
    try { await loadHead(); } catch (err) { $('head-signature').textContent = errorText(err); }
    setBusy(ev.currentTarget, false);
  });

  // ------------------------------------------------------------------ search

  async function allEvents(customer) {
    const out = [];
    let after = -1;
    for (;;) {
      const page = await api('GET', `/v1/audit/events?customer=${encodeURIComponent(customer)}&after=${after}&limit=1000`, { token: key() });
      out.push(...page.events);
      if (page.events.length < 1000) return out;
      after = page.next_after;
    }
  }

  /** Is log entry ``index`` (as the API served it) included under the signed head? */
  async function entryIncluded(index, expectedLeafHash) {
    const proof = await api('GET', `/v1/audit/proofs/inclusion?index=${index}&tree_size=${head.tree_size}`, { token: key() });
    const computedLeaf = await leafHash(enc.encode(proof.leaf));
    const leafOk = toHex(computedLeaf) === proof.leaf_hash &&
      (expectedLeafHash === undefined || expectedLeafHash === proof.leaf_hash);
    const included = await verifyInclusion(
      computedLeaf, index, head.tree_size, proof.proof.map(fromHex), fromHex(head.root_hash));
    return { leafOk, included, leaf: JSON.parse(proof.leaf) };
  }

  async function checkReceipt(doc, events, keys) {
    const r = doc.receipt || {};
    const text = canonicalJson(r);
    const digest = toHex(await sha256(enc.encode(text)));
    const items = [];
    items.push(checkItem(t('check_signature'), await verifySignature(doc.key_id, doc.signature, text)));
    const event = events.find((e) => String(e.action).startsWith('receipt.') &&
      (e.details || {}).receipt_id === r.receipt_id);
    if (!event) {
      items.push(checkItem(t('check_logged', { i: '?' }), false));
      return items;
    }
    const entry = await entryIncluded(event.seq, event.leaf_hash);
    items.push(checkItem(t('check_logged', { i: event.seq }),
      (entry.leaf.details || {}).sha256 === digest && entry.leaf.details.receipt_id === r.receipt_id));
    items.push(checkItem(t('check_leaf', { i: event.seq }), entry.leafOk));
    items.push(checkItem(t('check_inclusion', { i: event.seq, n: head.tree_size }), entry.included));
    if (String(r.version || '').startsWith('facekeep-destruction')) {
      const ids = (r.destroyed_keys || []).map((k) => k.key_id);
      const erase = events.find((e) => e.seq === r.log_index);
      let eraseOk = false;
      if (erase) {
        const proved = await entryIncluded(erase.seq, erase.leaf_hash);
        const l = proved.leaf;
        eraseOk = proved.leafOk && proved.included && l.action === 'erase.complete' &&
          l.customer === r.pii_principal_id &&
          JSON.stringify((l.details || {}).key_ids) === JSON.stringify(ids);
      }
      items.push(checkItem(t('check_erase_event', { i: r.log_index }), eraseOk));
      const commitOk = (r.destroyed_keys || []).length > 0 && (r.destroyed_keys || []).every((k) => {
        const rec = keys.find((x) => x.key_id === k.key_id);
        return rec && rec.state === 'destroyed' && rec.commitment === k.commitment;
      });
      items.push(checkItem(t('check_commitment'), commitOk));
    }
    return items;
  }

  async function search(q) {
    const results = $('results');
    const status = $('search-status');
    results.replaceChildren();
    status.textContent = t('loading');
    let customer = q;
    try {
      const rec = await api('GET', `/v1/keys/${encodeURIComponent(q)}`, { token: key() });
      customer = rec.customer;
    } catch (err) {
      if (err.status !== 404) throw err;
    }
    const [allKeys, receiptList] = await Promise.all([
      api('GET', '/v1/keys', { token: key() }),
      api('GET', `/v1/customers/${encodeURIComponent(customer)}/receipts`, { token: key() }),
    ]);
    const keys = allKeys.keys.filter((k) => k.customer === customer);
    const receipts = receiptList.receipts;
    if (keys.length === 0 && receipts.length === 0) {
      status.textContent = t('search_none', { q });
      return;
    }
    await loadHead();
    const events = await allEvents(customer);

    const heading = el('h3', { id: 'result-h', tabindex: -1, text: t('result_heading', { customer }) });
    const keyCards = el('ul', { class: 'plain key-list', 'aria-labelledby': 'keys-h' }, keys.map((k) =>
      el('li', { class: 'key-card', 'data-key': k.key_id, 'data-state': k.state },
        kv([
          [t('col_key'), hash(k.key_id)],
          [t('col_state'), el('span', { class: k.state === 'destroyed' ? 'badge off' : 'badge ok',
            text: t('state_' + k.state) })],
          [t('col_destroyed'), fmtDate(k.destroyed_at)],
          [t('col_reason'), k.destroy_reason || ''],
          [t('col_epoch'), k.kek_epoch === null || k.kek_epoch === undefined ? '' : String(k.kek_epoch)],
          [t('col_commitment'), hash(k.commitment)],
        ]))));

    const destruction = receipts.filter((d) => String((d.receipt || {}).version || '').startsWith('facekeep-destruction'));
    const others = receipts.filter((d) => !destruction.includes(d));
    const blocks = [];
    for (const doc of destruction) {
      const checks = await checkReceipt(doc, events, keys);
      blocks.push(el('div', { class: 'receipt-check destruction' },
        window.FK.renderReceipt(doc, 'h4'),
        el('h5', { text: t('checks_heading') }),
        el('ul', { class: 'plain checks' }, checks)));
    }
    if (destruction.length === 0) blocks.push(el('p', { class: 'muted', text: t('no_destruction') }));
    for (const doc of others) {
      const checks = await checkReceipt(doc, events, keys);
      const r = doc.receipt || {};
      blocks.push(el('details', { class: 'receipt-box' },
        el('summary', {}, t('receipt_consent'), ' · ', fmtDate(r.timestamp)),
        window.FK.renderReceipt(doc, 'h4'),
        el('h5', { text: t('checks_heading') }),
        el('ul', { class: 'plain checks' }, checks)));
    }
    results.replaceChildren(heading, el('h4', { id: 'keys-h', text: t('keys_heading') }), keyCards, ...blocks);
    status.textContent = '';
    heading.focus();
  }

  $('search-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const q = $('q').value.trim();
    if (!q) return;
    const button = ev.target.querySelector('button[type="submit"]');
    setBusy(button, true);
    try {
      await search(q);
    } catch (err) {
      $('search-status').textContent = errorText(err);
    } finally {
      setBusy(button, false);
    }
  });

  // ------------------------------------------------------------------ export

  $('export').addEventListener('click', async (ev) => {
    const button = ev.currentTarget;
    const status = $('export-status');
    setBusy(button, true);
    try {
      const res = await api('GET', '/v1/audit/export', { token: key(), raw: true });
      const disposition = res.headers.get('content-disposition') || '';
      const match = /filename="([^"]+)"/.exec(disposition);
      const name = match ? match[1] : 'facekeep-audit-export.zip';
      window.FK.downloadBlob(name, await res.blob());
      status.textContent = t('export_done', { name });
    } catch (err) {
      status.textContent = errorText(err);
    } finally {
      setBusy(button, false);
    }
  });

  // For the browser tests: the proof checks on known vectors.
  window.FKAudit = { sha256, sha256Plain, canonicalJson, verifyInclusion, leafHash, toHex, fromHex };

  if (key()) showAudit(false);
  else showLogin('', false);
})();
