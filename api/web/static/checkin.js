/* facekeep check-in kiosk (/kiosk/checkin). Plain JavaScript, nothing from outside.
 *
 * The device is signed in once with a kiosk key of the `checkin` purpose, kept in
 * localStorage: a kiosk is a device, not a person, and must come back by itself after a
 * reboot. The key can only match faces at its own venue and is disabled from the admin
 * API (the page then asks for a key again).
 *
 * Flow, one guest at a time:
 *   look    every TICK_MS a frame is taken from the camera. Brightness, and blur over the
 *           face, are judged here on a canvas. Frames go to the server only when the
 *           picture differs from the last frame known to show nobody, so an empty hall
 *           sends nothing. The server says how many faces there are, where and whether
 *           big enough (POST /v1/kiosk/frame: detection only, nothing kept).
 *   steady  one face, near enough, sharp and still for STEADY_TICKS frames in a row;
 *   [liveness check: see livenessCheck(), the place for a presentation-attack test]
 *   send    a burst of BURST frames of that guest to POST /v1/match;
 *   answer  a neutral welcome with the time, or "please check in at the counter"
 *           (strangers, withdrawn, expired and erased guests read the same);
 *   leave   no new attempt until the frame has shown nobody for LEAVE_TICKS frames:
 *           one guest, one check-in.
 * Frames live only in memory for the request that carries them; nothing is stored.
 */
'use strict';

(function () {
  const ALL = JSON.parse(document.getElementById('checkin-strings').textContent);
  const body = document.body;
  const $ = (id) => document.getElementById(id);

  const KEY_ITEM = 'facekeep.checkin.key';
  const TICK_MS = 200;
  const STEADY_TICKS = 3;
  const LEAVE_TICKS = 3;
  const BURST_GAP_MS = 100;
  const RESULT_MS = 4000;
  const FRAME_WIDTH = 640;
  const DARK_LUMA = 40; // mean luma (0-255) below which a frame is too dark
  const BLUR_MIN = 25; // variance of the Laplacian over the face, 320 px wide grey frame
  const MOTION_MIN = 4; // mean difference (0-255) from the empty scene that counts as change
  const MOVE_MAX = 0.06; // how far the face centre may move between frames and be "steady"
  const MIN_FACE = Number(body.dataset.minFace) || 0.2;
  const BURST = Math.min(5, Math.max(1, Number(body.dataset.burst) || 3));
  const WANTED_VENUE = body.dataset.venue || '';

  let lang = body.dataset.lang === 'en' ? 'en' : 'vi';
  let key = null;
  let session = null;
  let video = null;
  let state = 'signin'; // signin | starting | scanning | sending | waiting
  let hint = { key: 'camera_starting', vars: {} };
  let result = null; // {title, detail, vars}
  let steady = 0;
  let absent = 0;
  let lastCentre = null;
  let emptyScene = null;
  let resultUntil = 0;
  let answers = 0;
  let timer = null;

  // -------------------------------------------------------------------- strings

  function t(name, vars) {
    const table = ALL[lang] || ALL.vi;
    let s = Object.prototype.hasOwnProperty.call(table, name) ? table[name] : name;
    for (const [k, v] of Object.entries(vars || {})) s = s.split('{' + k + '}').join(String(v));
    return s;
  }

  function render() {
    document.documentElement.lang = lang;
    body.dataset.lang = lang;
    document.title = t('title') + ' · facekeep';
    for (const node of document.querySelectorAll('[data-t]')) node.textContent = t(node.dataset.t);
    for (const node of document.querySelectorAll('[data-t-aria-label]')) {
      node.setAttribute('aria-label', t(node.dataset.tAriaLabel));
    }
    $('lang-switch').lang = lang === 'vi' ? 'en' : 'vi';
    const h = $('hint');
    h.removeAttribute('data-t'); // the hint changes with the flow, not with the page
    h.textContent = t(hint.key, hint.vars);
    if (session) {
      $('venue-name').textContent = t('venue', { venue: session.venue_name || session.venue });
    }
    if (result) {
      $('result-title').textContent = t(result.title, result.vars);
      $('result-detail').textContent = result.detail ? t(result.detail, result.vars) : '';
    }
  }

  function setHint(name, vars) {
    if (hint.key === name && JSON.stringify(hint.vars) === JSON.stringify(vars || {})) return;
    hint = { key: name, vars: vars || {} };
    $('hint').textContent = t(name, vars);
    body.dataset.hint = name;
  }

  function setState(next) {
    state = next;
    body.dataset.state = next;
  }

  // -------------------------------------------------------------------- the device key

  const keyStore = {
    get() { try { return localStorage.getItem(KEY_ITEM); } catch (e) { return null; } },
    set(v) { try { localStorage.setItem(KEY_ITEM, v); } catch (e) { /* kept for this page only */ } },
    del() { try { localStorage.removeItem(KEY_ITEM); } catch (e) { /* nothing kept */ } },
  };

  async function call(method, path, form) {
    let res;
    try {
      res = await fetch(path, {
        method,
        headers: { Accept: 'application/json', Authorization: 'Bearer ' + key },
        body: form,
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch (e) {
      return { network: true, status: 0, ok: false, data: {} };
    }
    let data = {};
    try { data = await res.json(); } catch (e) { data = {}; }
    return { network: false, status: res.status, ok: res.ok, data };
  }

  function showSignin(error, vars) {
    stopCamera();
    setState('signin');
    session = null;
    $('scanner').hidden = true;
    $('signout').hidden = true;
    $('venue-name').hidden = true;
    $('signin').hidden = false;
    const box = $('signin-error');
    box.hidden = !error;
    box.textContent = error ? t(error, vars) : '';
    $('signin-button').disabled = false;
  }

  async function signIn(candidate, stored) {
    key = candidate;
    $('signin-button').disabled = true;
    $('signin-error').hidden = true;
    const r = await call('GET', '/v1/kiosk/session');
    if (r.network) {
      if (stored) { // the server is away: keep the device signed in and try again
        showScanner();
        setOffline(true);
        setTimeout(() => signIn(candidate, true), 3000);
        return;
      }
      showSignin('offline');
      return;
    }
    setOffline(false);
    const refuse = (error, vars) => { keyStore.del(); key = null; showSignin(error, vars); };
    if (r.status === 401) return refuse('err_unauthorized');
    if (r.status === 403) return refuse('err_not_checkin');
    if (!r.ok) return showSignin('err_server');
    if (!r.data.checkin) return refuse('err_not_checkin');
    if (WANTED_VENUE && r.data.venue !== WANTED_VENUE) {
      return refuse('err_other_venue', { venue: r.data.venue_name || r.data.venue });
    }
    keyStore.set(candidate);
    session = r.data;
    showScanner();
    await startCamera();
  }

  function signOut(error) {
    keyStore.del();
    key = null;
    showSignin(error);
  }

  function showScanner() {
    $('signin').hidden = true;
    $('scanner').hidden = false;
    $('signout').hidden = false;
    $('kiosk-key').value = '';
    if (session) {
      $('venue-name').hidden = false;
      render();
    }
  }

  function setOffline(off) {
    $('offline').hidden = !off;
    body.classList.toggle('is-offline', off);
  }

  // -------------------------------------------------------------------- camera

  async function startCamera() {
    if (video && video.srcObject) { schedule(); return; }
    setState('starting');
    setHint('camera_starting');
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      setHint('camera_missing');
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: 'user' },
        audio: false,
      });
    } catch (e) {
      setHint(e && e.name === 'NotFoundError' ? 'camera_missing' : 'camera_denied');
      return;
    }
    video = $('camera');
    video.srcObject = stream;
    try { await video.play(); } catch (e) { /* autoplay of a muted stream is allowed */ }
    while (!video.videoWidth) await sleep(50);
    if (navigator.wakeLock) navigator.wakeLock.request('screen').catch(() => {});
    setState('scanning');
    setHint('hint_look');
    schedule();
  }

  function stopCamera() {
    if (timer) clearTimeout(timer);
    timer = null;
    if (video && video.srcObject) {
      for (const track of video.srcObject.getTracks()) track.stop();
      video.srcObject = null;
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function schedule() {
    if (timer) clearTimeout(timer);
    timer = setTimeout(async () => {
      timer = null;
      if (!key) return;
      try {
        await step();
      } finally {
        if (key && video && video.srcObject) schedule();
      }
    }, TICK_MS);
  }

  /** The current camera picture on a canvas at most FRAME_WIDTH wide. */
  function grab() {
    const w = video.videoWidth;
    const h = video.videoHeight;
    const scale = Math.min(1, FRAME_WIDTH / w);
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(w * scale);
    canvas.height = Math.round(h * scale);
    canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
    return canvas;
  }

  const jpeg = (canvas, quality) =>
    new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', quality));

  /** A grey copy of the frame, ``width`` pixels wide: {w, h, px} with px in 0-255. */
  function grey(canvas, width) {
    const w = width;
    const h = Math.max(1, Math.round((canvas.height * width) / canvas.width));
    const small = document.createElement('canvas');
    small.width = w;
    small.height = h;
    const ctx = small.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(canvas, 0, 0, w, h);
    const rgba = ctx.getImageData(0, 0, w, h).data;
    const px = new Float32Array(w * h);
    for (let i = 0, j = 0; i < px.length; i += 1, j += 4) {
      px[i] = 0.299 * rgba[j] + 0.587 * rgba[j + 1] + 0.114 * rgba[j + 2];
    }
    return { w, h, px };
  }

  const mean = (g) => g.px.reduce((a, b) => a + b, 0) / g.px.length;

  function difference(a, b) {
    let sum = 0;
    for (let i = 0; i < a.px.length; i += 1) sum += Math.abs(a.px[i] - b.px[i]);
    return sum / a.px.length;
  }

  /** Variance of the 4-neighbour Laplacian inside the face box (shares of the frame):
   * low when the face is blurred (moving, or out of focus). */
  function sharpness(g, face) {
    const x0 = Math.max(1, Math.floor(face.x * g.w));
    const y0 = Math.max(1, Math.floor(face.y * g.h));
    const x1 = Math.min(g.w - 1, Math.ceil((face.x + face.w) * g.w));
    const y1 = Math.min(g.h - 1, Math.ceil((face.y + face.h) * g.h));
    let n = 0;
    let sum = 0;
    let sq = 0;
    for (let y = y0; y < y1; y += 1) {
      for (let x = x0; x < x1; x += 1) {
        const i = y * g.w + x;
        const v = g.px[i - 1] + g.px[i + 1] + g.px[i - g.w] + g.px[i + g.w] - 4 * g.px[i];
        n += 1;
        sum += v;
        sq += v * v;
      }
    }
    if (!n) return 0;
    const m = sum / n;
    return sq / n - m * m;
  }

  // -------------------------------------------------------------------- the flow

  async function step() {
    if (state !== 'scanning' && state !== 'waiting') return;
    const frame = grab();
    const thumb = grey(frame, 32);
    if (state === 'scanning' && emptyScene && difference(thumb, emptyScene) < MOTION_MIN) {
      steady = 0; // nothing new in front of the camera: send nothing
      setHint('hint_look');
      return;
    }
    const g = grey(frame, 320);
    if (mean(g) < DARK_LUMA) {
      steady = 0;
      if (state === 'scanning') setHint('hint_dark');
      return;
    }
    const form = new FormData();
    form.append('image', await jpeg(frame, 0.8), 'frame.jpg');
    const r = await call('POST', '/v1/kiosk/frame', form);
    if (r.network) { setOffline(true); return; }
    setOffline(false);
    if (r.status === 401 || r.status === 403) { signOut('err_unauthorized'); return; }
    if (r.status === 429) { await sleep(1000); return; }
    if (!r.ok) return;
    const seen = r.data;
    if (seen.faces === 0) {
      absent += 1;
      steady = 0;
      lastCentre = null;
      emptyScene = thumb;
      if (state === 'waiting') {
        if (absent >= LEAVE_TICKS && Date.now() >= resultUntil) nextGuest();
      } else {
        setHint('hint_look');
      }
      return;
    }
    absent = 0;
    if (state === 'waiting') {
      if (Date.now() >= resultUntil) { hideResult(); setHint('next_guest'); }
      return; // the same guest is still here: one visit, one check-in
    }
    if (seen.faces > 1) { steady = 0; setHint('hint_one'); return; }
    const face = seen.face;
    if (!seen.big_enough || face.h < MIN_FACE) { steady = 0; setHint('hint_closer'); return; }
    if (sharpness(g, face) < BLUR_MIN) { steady = 0; setHint('hint_blur'); return; }
    const centre = { x: face.x + face.w / 2, y: face.y + face.h / 2 };
    const still = lastCentre && Math.hypot(centre.x - lastCentre.x, centre.y - lastCentre.y) < MOVE_MAX;
    steady = still ? steady + 1 : 1;
    lastCentre = centre;
    if (steady < STEADY_TICKS) { setHint('hint_hold'); return; }
    steady = 0;
    if (!(await livenessCheck(frame, face))) { setHint('hint_look'); return; }
    await checkIn();
  }

  /**
   * The insertion point for a presentation-attack (liveness) check, between "one face,
   * near and steady" and "send the burst": resolve false to send nothing and start over.
   * None is done today, so a printed photo or a phone screen held up to the camera can
   * check a guest in (see the README).
   */
  async function livenessCheck(frame, face) { // eslint-disable-line no-unused-vars
    return true;
  }

  async function checkIn() {
    setState('sending');
    setHint('checking');
    const form = new FormData();
    for (let i = 0; i < BURST; i += 1) {
      if (i) await sleep(BURST_GAP_MS);
      form.append('image', await jpeg(grab(), 0.85), 'frame-' + i + '.jpg');
    }
    form.append('purpose', 'checkin');
    const r = await call('POST', '/v1/match', form);
    if (r.network) { setOffline(true); setState('scanning'); return; }
    setOffline(false);
    if (r.status === 401) { signOut('err_unauthorized'); return; }
    if (!r.ok) {
      // A frame of the burst lost the face, caught a second one or another person:
      // no answer is shown, the guest is simply framed again.
      const hints = {
        face_too_small: 'hint_closer',
        multiple_faces: 'hint_one',
        faces_differ: 'hint_one',
        no_face: 'hint_look',
      };
      setHint(hints[r.data.code] || 'hint_look');
      if (r.status === 429) await sleep(1000);
      setState('scanning');
      return;
    }
    const now = new Date();
    const time = now.toLocaleTimeString(lang === 'vi' ? 'vi-VN' : 'en-GB', {
      hour: '2-digit',
      minute: '2-digit',
    });
    // Nothing from the answer but its yes or no reaches the screen.
    showResult(r.data.match === true ? 'welcome' : 'no_match', { time });
  }

  function showResult(kind, vars) {
    result = kind === 'welcome'
      ? { title: 'welcome', detail: 'welcome_time', vars }
      : { title: 'no_match', detail: null, vars };
    answers += 1;
    body.dataset.answers = String(answers);
    mark('A');
    body.dataset.lastAnswer = kind;
    const box = $('result');
    box.className = 'result result-' + kind;
    box.hidden = false;
    render();
    resultUntil = Date.now() + RESULT_MS;
    absent = 0;
    setState('waiting');
    setHint('next_guest');
  }

  function hideResult() {
    $('result').hidden = true;
    result = null;
  }

  /** The flow's recent steps (A: an answer shown, L: the guest left), for staff and
   * tests: one answer per visit reads "ALALAL...". */
  function mark(step) {
    body.dataset.trail = ((body.dataset.trail || '') + step).slice(-40);
  }

  function nextGuest() {
    mark('L');
    hideResult();
    steady = 0;
    lastCentre = null;
    setState('scanning');
    setHint('hint_look');
  }

  // -------------------------------------------------------------------- wiring

  $('signin-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = $('kiosk-key').value.trim();
    if (value) signIn(value, false);
  });
  $('signout').addEventListener('click', () => signOut(null));
  $('lang-switch').addEventListener('click', () => {
    lang = lang === 'vi' ? 'en' : 'vi';
    const url = new URL(window.location.href);
    url.searchParams.set('lang', lang);
    window.history.replaceState(null, '', url);
    render();
  });

  render();
  const stored = keyStore.get();
  if (stored) signIn(stored, true);
  else showSignin(null);
})();
