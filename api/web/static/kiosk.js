/* The consent counter: staff sign in with their staff account and PIN (a server session
 * that ends after an idle time and at sign-out; the page never takes an API key), then the
 * tablet goes to the guest (kiosk mode: no navigation, no staff controls), who reads the
 * notice and agrees or refuses. A refusal records nothing about them, only an anonymous
 * count. After agreeing: the camera (a short burst of photos, only while exactly one face
 * is seen) or photo files; then the receipt in plain words, the access code (cleared from
 * the screen after a countdown) and a QR code to the guest's page in their language.
 * Photos stay in this page's memory until they are sent and are dropped as soon as the
 * enrolment answers. The language can be switched at any step without reloading, so
 * nothing on the screen is lost.
 *
 * Every staff action taken while a guest may hold the tablet (opening the staff controls,
 * the next guest, signing out) asks for the PIN again, checked by the server: the page
 * signs in again with the same account and swaps the session token. No secret is ever
 * compared in the browser, and the PIN is never stored. */
'use strict';

(function () {
  const FK = window.FK;
  const { t, el, api, errorText, store, reveal, setBusy, purposeName } = FK;
  const $ = (id) => document.getElementById(id);
  const MAX_PHOTOS = 5;
  const BURST = 3; // photos per press of the camera button
  const BURST_GAP_MS = 350;
  const HINT_EVERY_MS = 1200;
  const CODE_SECONDS = Number(document.body.dataset.codeSeconds) || 120;
  const NOTICES = JSON.parse($('fk-notices').textContent);
  const TOKEN_PREFIX = 'fks_'; // staff session tokens; API keys are never used here
  const ACCOUNT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
  const HOLD_MINUTES = 5; // a guest in progress waits this long for staff to sign in again
  // Staff controls opened while a guest is on screen close by themselves after this long
  // without a touch or a key (staff called away leave no controls to the guest).
  const RELOCK_SECONDS = 60;

  const staffSection = $('staff-section');
  const signinForm = $('signin-form');
  const accountInput = $('staff-account');
  const pinInput = $('staff-pin');
  const signinError = $('signin-error');
  const staffForm = $('staff-form');
  const venueSelect = $('venue');
  const validity = $('validity');
  const staffError = $('staff-error');
  const staffBar = $('staff-bar');
  const consentSection = $('consent-section');
  const consentForm = $('consent-form');
  const consentError = $('consent-error');
  const refusedSection = $('refused-section');
  const photoSection = $('photo-section');
  const video = $('camera');
  const hint = $('hint');
  const takeButton = $('take-photo');
  const photoList = $('photos');
  const photoError = $('photo-error');
  const enrolButton = $('enrol');
  const doneSection = $('done-section');

  // What the tab keeps: who is signed in and where (no secret) and the session token.
  // Anything older (an API key typed into an earlier version of this page) is dropped.
  let staff = store.getJson('staff'); // {id, name, venue, venueName, days}
  let token = store.get('staff-token');
  if (!staff || typeof staff.id !== 'string' || 'key' in staff) {
    staff = null;
    store.del('staff');
  }
  if (!staff || !token || !token.startsWith(TOKEN_PREFIX)) {
    token = null;
    store.del('staff-token');
  }
  let venueNames = store.getJson('venues') || {};
  let consent = null; // {purposes, lang, version}, set when the guest agreed
  let photos = []; // {blob, url, faces, error}
  let stream = null;
  let hintRun = 0;
  let lastCount = null; // faces in the latest camera frame
  let result = null; // what the done screen shows: {kind, receipt, code, customer}
  let codeTimer = null;
  let codeDeadline = 0;
  let held = null; // a guest in progress when the session ended: {step, venue, days, timer}
  let pendingRefusals = 0; // refusals the server has not counted yet
  let status = []; // the sign-in form's message, as [key, vars] pairs (re-said on a language switch)

  // ------------------------------------------------------------------ the staff session

  /** The session has ended on the server (idle, signed out, account disabled). */
  class SessionEnded extends Error {}
  const ended = (err) => err instanceof SessionEnded;

  /** Call the API with the staff session. A 401 means the session is over: the page goes
   * back to the sign-in form (see sessionEnded) and the caller gets SessionEnded. */
  async function staffApi(method, path, opts) {
    const used = token;
    if (!used) {
      sessionEnded();
      throw new SessionEnded();
    }
    try {
      return await api(method, path, { ...(opts || {}), token: used });
    } catch (err) {
      if (!(err instanceof FK.ApiError) || err.status !== 401) throw err;
      // A call made with a token that was swapped meanwhile (PIN given again) is retried.
      if (token && token !== used) return staffApi(method, path, opts);
      sessionEnded();
      throw new SessionEnded();
    }
  }

  /** What a refused PIN looks like to staff: the server's answer in the page's words. */
  function pinErrorText(err) {
    return err instanceof FK.ApiError && err.code === 'unauthorized' ? t('pin_wrong') : errorText(err);
  }

  /** Sign in (or check the PIN again): the server checks the PIN and counts a wrong one
   * in its throttle and the account's lock. */
  function signInRequest(account, pin) {
    return api('POST', '/v1/staff/sessions', { json: { staff: account, pin } });
  }

  /** Use a new session token; the one it replaces is ended on the server. */
  function useToken(next) {
    const old = token;
    token = next;
    store.set('staff-token', next);
    if (old && old !== next) {
      api('DELETE', '/v1/staff/sessions/current', { token: old }).catch(() => {});
    }
  }

  function flushRefusals() {
    while (pendingRefusals > 0 && token) {
      pendingRefusals -= 1;
      countRefusal();
    }
  }

  function countRefusal() {
    staffApi('POST', '/v1/pages/refusals').catch((err) => {
      if (ended(err)) pendingRefusals += 1; // counted after the next sign-in
    });
  }

  function hasGuest() {
    return consent !== null || photos.length > 0
      || consentForm.querySelector('input:checked') !== null;
  }

  /** The server refused the session token. The token goes at once; an access code on the
   * screen goes too (it must not linger behind the sign-in form); a guest half-way through
   * (their choices and photos, in this page's memory only) waits a few minutes for staff
   * to sign in again at the same venue. */
  function sessionEnded() {
    if (!token && !staffSection.hidden && !signinForm.hidden) return; // said already
    token = null;
    store.del('staff-token');
    closePin();
    if (result) resetGuest();
    if (!held && hasGuest() && staff) {
      held = {
        step: photoSection.hidden ? 'consent' : 'photo',
        venue: staff.venue,
        days: staff.days,
        timer: setTimeout(dropHeld, HOLD_MINUTES * 60000),
      };
    }
    showSignIn(held ? [['session_ended'], ['guest_kept', { minutes: HOLD_MINUTES }]]
      : [['session_ended']]);
  }

  function dropHeld() {
    if (!held) return;
    clearTimeout(held.timer);
    held = null;
    resetGuest();
    status = status.filter(([key]) => key !== 'guest_kept');
    renderStatus();
  }

  function renderStatus() {
    const box = $('staff-status');
    box.textContent = status.map(([key, vars]) => t(key, vars)).join(' ');
  }

  // ------------------------------------------------------------------ asking for the PIN

  const PIN_ASKS = {
    unlock: ['unlock_title', 'unlock_text', 'unlock_submit'],
    next: ['next_confirm_title', 'next_confirm_text', 'next_customer'],
    signout: ['signout_title', 'signout_text', 'sign_out'],
  };
  let pinAsk = null; // {kind, resolve}

  function renderPinDialog() {
    if (!pinAsk) return;
    const [title, text, submit] = PIN_ASKS[pinAsk.kind];
    $('pin-h').textContent = t(title);
    $('pin-text').textContent = t(text);
    $('pin-submit').textContent = t(submit);
    $('pin-who').textContent = staff ? t('staff_who', { name: staff.name, staff: staff.id }) : '';
  }

  /** Ask for the staff PIN before a staff action; resolves true once the server accepted
   * it (and the session token was renewed), false if staff cancelled. */
  function askPin(kind) {
    closePin();
    return new Promise((resolve) => {
      pinAsk = { kind, resolve };
      $('pin-input').value = '';
      $('pin-error').textContent = '';
      renderPinDialog();
      $('pin-dialog').showModal();
      $('pin-input').focus();
    });
  }

  function closePin(answer = false) {
    const ask = pinAsk;
    pinAsk = null;
    $('pin-input').value = '';
    if ($('pin-dialog').open) $('pin-dialog').close();
    if (ask) ask.resolve(answer);
  }

  $('pin-cancel').addEventListener('click', () => closePin(false));
  $('pin-dialog').addEventListener('cancel', (ev) => {
    ev.preventDefault();
    closePin(false);
  });
  $('pin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const pin = $('pin-input').value;
    const button = $('pin-submit');
    $('pin-error').textContent = '';
    if (!pin) {
      $('pin-error').textContent = t('need_pin');
      $('pin-input').focus();
      return;
    }
    if (!staff) return closePin(false);
    setBusy(button, true);
    let out;
    try {
      out = await signInRequest(staff.id, pin);
    } catch (err) {
      $('pin-input').value = '';
      $('pin-error').textContent = pinErrorText(err);
      $('pin-input').focus();
      return;
    } finally {
      setBusy(button, false);
      renderPinDialog();
    }
    useToken(out.token);
    staff.name = out.name;
    store.setJson('staff', staff);
    flushRefusals();
    closePin(true);
  });

  // ------------------------------------------------------------------ kiosk mode

  /** A guest holds the tablet: navigation and staff controls are hidden; the Staff
   * button asks for the PIN again before showing them. */
  function guestMode(on) {
    document.body.classList.toggle('kiosk-mode', on);
    staffBar.hidden = on || !staff;
    $('staff-unlock').hidden = !on;
    if (on) $('new-code-form').hidden = true;
    stopRelock();
  }

  let relock = null; // the timer that hands the tablet back to the guest

  function stopRelock() {
    if (relock) clearTimeout(relock);
    relock = null;
  }

  /** (Re)start the count to handing the tablet back: staff opened their controls while a
   * guest is on screen. */
  function armRelock() {
    stopRelock();
    relock = setTimeout(() => {
      relock = null;
      closePin(false);
      backToGuest();
    }, RELOCK_SECONDS * 1000);
  }

  // Any touch or key while the controls are open counts as staff still at the tablet.
  for (const kind of ['pointerdown', 'keydown']) {
    document.addEventListener(kind, () => { if (relock) armRelock(); }, true);
  }

  function backToGuest() {
    if (!doneSection.hidden || !photoSection.hidden) guestMode(true);
    else showConsent();
  }

  $('staff-unlock').addEventListener('click', async () => {
    if (!(await askPin('unlock'))) return;
    guestMode(false);
    staffBar.hidden = false;
    $('staff-to-guest').focus();
    armRelock();
  });
  // The link under the QR code is for the guest's phone: on the tablet it does not open
  // (the guest's page would keep their access code in this shared tab).
  $('me-link').addEventListener('click', (ev) => {
    if (document.body.classList.contains('kiosk-mode')) ev.preventDefault();
  });
  $('staff-to-guest').addEventListener('click', backToGuest);

  // ------------------------------------------------------------------ sign-in and venue

  function hideSteps() {
    for (const s of [staffSection, consentSection, refusedSection, photoSection, doneSection]) {
      s.hidden = true;
    }
  }

  function showStaffSection() {
    stopCamera();
    hideSteps();
    guestMode(false);
    staffBar.hidden = true;
    reveal(staffSection, null, false);
  }

  /** The sign-in form (account and PIN), with a message (``lines``: [key, vars] pairs). */
  function showSignIn(lines, focus = true) {
    status = lines || [];
    renderStatus();
    showStaffSection();
    staffForm.hidden = true;
    signinForm.hidden = false;
    signinError.textContent = '';
    pinInput.value = '';
    if (!accountInput.value && staff) accountInput.value = staff.id;
    if (focus) (accountInput.value ? pinInput : accountInput).focus();
  }

  async function loadVenues() {
    staffError.textContent = '';
    const data = await staffApi('GET', '/v1/venues');
    venueNames = Object.fromEntries(data.venues.map((v) => [v.id, v.name]));
    store.setJson('venues', venueNames);
    const open = data.venues.filter((v) => !v.disabled);
    venueSelect.replaceChildren(...open.map((v) =>
      el('option', { value: v.id, text: v.name === v.id ? v.id : `${v.name} (${v.id})` })));
    if (staff && staff.venue && open.some((v) => v.id === staff.venue)) {
      venueSelect.value = staff.venue;
    }
    return open.map((v) => v.id);
  }

  function renderWho() {
    const idle = Math.max(1, Math.round((staff.idleSeconds || 0) / 60));
    $('staff-who').textContent = t('staff_who', { name: staff.name, staff: staff.id })
      + (staff.idleSeconds ? ' ' + t('staff_idle', { minutes: idle }) : '');
  }

  /** The venue and validity choice of a signed-in staff member. */
  async function showVenueForm(focus = true) {
    status = [];
    renderStatus();
    showStaffSection();
    signinForm.hidden = true;
    staffForm.hidden = false;
    renderWho();
    if (staff.days) validity.value = String(staff.days);
    let venues;
    try {
      venues = await loadVenues();
    } catch (err) {
      if (!ended(err)) staffError.textContent = errorText(err);
      return;
    }
    $('staff-submit').disabled = venues.length === 0;
    if (venues.length === 0) staffError.textContent = t('venue_none');
    if (focus) venueSelect.focus();
  }

  signinForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    signinError.textContent = '';
    const account = accountInput.value.trim();
    const pin = pinInput.value;
    if (!ACCOUNT_RE.test(account)) {
      signinError.textContent = t('need_account');
      accountInput.focus();
      return;
    }
    if (!pin) {
      signinError.textContent = t('need_pin');
      pinInput.focus();
      return;
    }
    const button = $('signin-submit');
    setBusy(button, true);
    let out;
    try {
      out = await signInRequest(account, pin);
    } catch (err) {
      signinError.textContent = pinErrorText(err);
      pinInput.value = '';
      pinInput.focus();
      return;
    } finally {
      pinInput.value = '';
      setBusy(button, false);
    }
    const same = staff && staff.id === out.staff;
    staff = { id: out.staff, name: out.name, idleSeconds: out.idle_seconds,
      venue: same ? staff.venue : null, venueName: same ? staff.venueName : null,
      days: same ? staff.days : null };
    store.setJson('staff', staff);
    useToken(out.token);
    flushRefusals();
    if (held && out.venues.includes(held.venue)) {
      resume(out.venues);
      return;
    }
    dropHeld();
    await showVenueForm();
  });

  /** Back to the guest who was half-way through when the session ended. */
  function resume(venues) {
    const step = held.step;
    clearTimeout(held.timer);
    staff.venue = held.venue;
    staff.venueName = venueNames[held.venue] || staff.venueName || held.venue;
    staff.days = held.days;
    store.setJson('staff', staff);
    held = null;
    status = [];
    if (step === 'photo' && consent && venues.includes(staff.venue)) {
      hideSteps();
      renderStaffBar();
      guestMode(true);
      showPhoto();
      photos.filter((p) => p.faces === null && !p.error).forEach(checkPhoto);
    } else {
      showConsent();
    }
  }

  staffForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!venueSelect.value) {
      staffError.textContent = t('venue_none');
      return;
    }
    staff.venue = venueSelect.value;
    staff.venueName = venueNames[venueSelect.value] || venueSelect.value;
    staff.days = Number(validity.value);
    store.setJson('staff', staff);
    resetGuest(); // a new venue or validity is a new guest
    showConsent();
  });

  $('staff-change').addEventListener('click', () => showVenueForm());

  /** Sign out, after the PIN: the session ends on the server and this tab forgets the
   * token, who was signed in and every guest's data. */
  async function signOut() {
    if (!(await askPin('signout'))) return;
    const old = token;
    let lines = [['signed_out']];
    try {
      await api('DELETE', '/v1/staff/sessions/current', { token: old });
    } catch (err) {
      if (!(err instanceof FK.ApiError) || err.status !== 401) lines = [];
      if (lines.length === 0) signinError.textContent = errorText(err);
    }
    if (held) clearTimeout(held.timer);
    held = null;
    resetGuest();
    token = null;
    staff = null;
    venueNames = {};
    pendingRefusals = 0;
    for (const k of ['staff', 'staff-token', 'venues']) store.del(k);
    venueSelect.replaceChildren();
    accountInput.value = '';
    const message = signinError.textContent;
    showSignIn(lines);
    signinError.textContent = message;
  }

  $('staff-signout').addEventListener('click', signOut);
  $('staff-form-signout').addEventListener('click', signOut);

  $('staff-new-code').addEventListener('click', () => {
    const form = $('new-code-form');
    form.hidden = !form.hidden;
    $('new-code-error').textContent = '';
    if (!form.hidden) $('new-code-customer').focus();
  });

  $('new-code-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const customer = $('new-code-customer').value.trim();
    const button = ev.target.querySelector('button[type="submit"]');
    $('new-code-error').textContent = '';
    if (!customer) {
      $('new-code-error').textContent = t('err_invalid_customer');
      return;
    }
    setBusy(button, true);
    let out;
    try {
      out = await staffApi('POST', `/v1/customers/${encodeURIComponent(customer)}/access-code`);
    } catch (err) {
      if (!ended(err)) $('new-code-error').textContent = errorText(err);
      return;
    } finally {
      setBusy(button, false);
    }
    $('new-code-customer').value = '';
    $('new-code-form').hidden = true;
    resetGuest();
    result = { kind: 'code', code: out.access_code, customer: out.customer, receipt: null };
    await showDone();
  });

  // ------------------------------------------------------------------ notice and consent

  function renderNotice() {
    const notice = NOTICES[FK.LANG];
    $('notice-h').textContent = notice.paragraphs[0];
    $('notice-version').textContent = t('notice_version', { version: notice.version });
    $('notice-body').replaceChildren(...notice.paragraphs.slice(1).map(
      (p) => el('p', { text: p })));
  }

  function retentionText() {
    const until = new Date(Date.now() + staff.days * 86400000);
    return t('retention_text', {
      days: staff.days, date: FK.fmtDay(until), grace: consentForm.dataset.grace,
    });
  }

  function renderStaffBar() {
    if (!staff) return;
    $('staff-bar-text').textContent = t('staff_bar', { venue: staff.venueName, days: staff.days });
    $('venue-name').textContent = staff.venueName;
    $('retention-text').textContent = retentionText();
  }

  function showConsent(focus = true) {
    hideSteps();
    renderNotice();
    renderStaffBar();
    guestMode(true);
    reveal(consentSection, $('notice-h'), focus);
  }

  consentForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    consentError.textContent = '';
    const purposes = [...consentForm.querySelectorAll('input[name="purpose"]:checked')].map((i) => i.value);
    if (purposes.length === 0) {
      consentError.textContent = t('need_purpose');
      $('purpose-checkin').focus();
      return;
    }
    if (!$('confirm').checked) {
      consentError.textContent = t('need_confirm');
      $('confirm').focus();
      return;
    }
    // The notice the guest read, in the language they read it in.
    // Its hash goes with the enrolment: if the notice changed since, nothing is recorded.
    const notice = NOTICES[FK.LANG];
    consent = { purposes, lang: FK.LANG, version: notice.version, sha256: notice.sha256 };
    showPhoto();
  });

  $('consent-refuse').addEventListener('click', () => {
    // Nothing about the guest is sent: the server only counts one refusal.
    countRefusal();
    resetGuest();
    hideSteps();
    reveal(refusedSection, $('refused-h'));
  });
  $('refused-done').addEventListener('click', () => {
    window.scrollTo(0, 0);
    showConsent();
  });

  // ------------------------------------------------------------------ photos

  function consentSummary() {
    if (consent) {
      $('consent-summary').textContent = t('consent_summary', {
        purposes: consent.purposes.map(purposeName).join(', '),
      });
    }
  }

  function showPhoto() {
    consentSection.hidden = true;
    photoError.textContent = '';
    hint.textContent = '';
    consentSummary();
    renderTakeButton();
    renderPhotos();
    reveal(photoSection, $('photo-h'));
  }

  function hintFor(count) {
    if (count === 0) return { text: t('hint_none'), cls: 'hint warn' };
    if (count === 1) return { text: t('hint_one'), cls: 'hint ok' };
    return { text: t('hint_many', { n: count }), cls: 'hint warn' };
  }

  function renderTakeButton() {
    takeButton.textContent = t('take_photo', { n: BURST });
    // Photos are taken only while exactly one face is seen; the hint says why not.
    takeButton.disabled = lastCount !== 1 || goodCount() >= MAX_PHOTOS;
    takeButton.title = takeButton.disabled ? t('take_need_one') : '';
  }

  function showHint() {
    if (!stream) return;
    if (lastCount === null) {
      hint.textContent = t('hint_checking');
      hint.className = 'hint';
    } else {
      const h = hintFor(lastCount);
      hint.textContent = h.text;
      hint.className = h.cls;
    }
    renderTakeButton();
  }

  async function countFaces(blob) {
    const form = new FormData();
    form.append('image', blob, 'frame.jpg');
    const data = await staffApi('POST', '/v1/faces/count', { form });
    return data.faces;
  }

  function grabFrame(maxSide) {
    const w = video.videoWidth;
    const h = video.videoHeight;
    if (!w || !h) return Promise.resolve(null);
    const scale = Math.min(1, maxSide / Math.max(w, h));
    const canvas = el('canvas', { width: Math.round(w * scale), height: Math.round(h * scale) });
    canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
    return new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.9));
  }

  async function hintLoop(run) {
    while (run === hintRun && stream) {
      const frame = await grabFrame(480);
      if (frame && run === hintRun) {
        try {
          const n = await countFaces(frame);
          if (run === hintRun) {
            lastCount = n;
            showHint();
          }
        } catch (err) {
          if (ended(err)) return;
          if (run === hintRun) {
            lastCount = null;
            hint.textContent = errorText(err);
            hint.className = 'hint warn';
            renderTakeButton();
          }
        }
      }
      await new Promise((r) => setTimeout(r, HINT_EVERY_MS));
    }
  }

  async function startCamera() {
    photoError.textContent = '';
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      hint.textContent = t('camera_unavailable');
      hint.className = 'hint warn';
      $('photo-files').focus();
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: 'user', width: { ideal: 1280 }, height: { ideal: 720 } },
        audio: false,
      });
    } catch (err) {
      stream = null;
      hint.textContent = t('camera_unavailable');
      hint.className = 'hint warn';
      $('photo-files').focus();
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    $('stage').classList.add('live');
    $('camera-start').hidden = true;
    $('camera-stop').hidden = false;
    takeButton.hidden = false;
    lastCount = null;
    showHint();
    hintRun += 1;
    hintLoop(hintRun);
    takeButton.focus();
  }

  function stopCamera() {
    hintRun += 1;
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    lastCount = null;
    video.srcObject = null;
    video.hidden = true;
    $('stage').classList.remove('live');
    $('camera-start').hidden = false;
    $('camera-stop').hidden = true;
    takeButton.hidden = true;
  }

  $('camera-start').addEventListener('click', startCamera);
  $('camera-stop').addEventListener('click', () => {
    stopCamera();
    hint.textContent = '';
    $('camera-start').focus();
  });

  takeButton.addEventListener('click', async () => {
    if (lastCount !== 1) return;
    takeButton.disabled = true;
    for (let i = 0; i < BURST && goodCount() < MAX_PHOTOS; i += 1) {
      if (i > 0) await new Promise((r) => setTimeout(r, BURST_GAP_MS));
      const frame = await grabFrame(1280);
      if (frame) addPhoto(frame);
    }
    renderTakeButton();
  });

  $('photo-files').addEventListener('change', (ev) => {
    for (const file of ev.target.files) addPhoto(file);
    ev.target.value = '';
  });

  const isBad = (p) => p.error !== null || (p.faces !== null && p.faces !== 1);
  // A bad photo does not count toward the limit (and is never sent).
  const goodCount = () => photos.filter((p) => !isBad(p)).length;

  function addPhoto(blob) {
    photoError.textContent = '';
    if (goodCount() >= MAX_PHOTOS) {
      photoError.textContent = t('photos_too_many');
      return;
    }
    const photo = { blob, url: URL.createObjectURL(blob), faces: null, error: null };
    photos.push(photo);
    renderPhotos();
    checkPhoto(photo);
  }

  /** Count the faces on a photo. If the staff session ended meanwhile, the photo stays
   * unchecked and is checked again when staff sign in and the guest carries on. */
  function checkPhoto(photo) {
    countFaces(photo.blob)
      .then((n) => { photo.faces = n; }, (err) => { if (!ended(err)) photo.error = err; })
      .finally(renderPhotos);
  }

  /** What a photo's check found, and for a bad one what to do about it. */
  function photoStatus(photo, n) {
    if (photo.error) {
      if (photo.error.code === 'face_too_small') return t('photo_err_small', { n });
      if (photo.error.code === 'no_face') return t('photo_err_none', { n });
      return t('photo_err_other', { n, error: errorText(photo.error) });
    }
    if (photo.faces === null) return t('hint_checking');
    if (photo.faces === 1) return t('photo_status_one', { n });
    if (photo.faces === 0) return t('photo_err_none', { n });
    return t('photo_err_many', { n, count: photo.faces });
  }

  function renderPhotos() {
    $('photos-h').textContent = t('photos_heading', { n: goodCount() });
    photoList.replaceChildren(...photos.map((photo, i) => {
      const n = i + 1;
      const state = photo.faces === null && !photo.error ? '' : (isBad(photo) ? 'warn' : 'ok');
      return el('li', { class: 'photo ' + state },
        el('img', { src: photo.url, alt: t('photo_alt', { n }), width: 120, height: 90 }),
        el('p', { class: state, text: photoStatus(photo, n) }),
        el('button', { type: 'button', text: t('photo_remove', { n }),
          onclick: () => removePhoto(i) }));
    }));
    $('photo-not-sent').hidden = !photos.some(isBad);
    const checking = photos.some((p) => p.faces === null && !p.error);
    const reason = checking ? t('enrol_reason_checking')
      : goodCount() === 0 ? t('enrol_reason_none') : '';
    // The button is never greyed out without the reason beside it.
    enrolButton.disabled = reason !== '';
    $('enrol-reason').textContent = reason;
    renderTakeButton();
  }

  function removePhoto(i) {
    URL.revokeObjectURL(photos[i].url);
    photos.splice(i, 1);
    renderPhotos();
    $('photo-files').focus();
  }

  function dropPhotos() {
    photos.forEach((p) => URL.revokeObjectURL(p.url));
    photos = [];
  }

  $('back').addEventListener('click', () => {
    stopCamera();
    dropPhotos();
    photoSection.hidden = true;
    reveal(consentSection, $('notice-h'));
  });

  enrolButton.addEventListener('click', async () => {
    photoError.textContent = '';
    const good = photos.filter((p) => !isBad(p));
    if (good.length === 0) return;
    const form = new FormData();
    good.forEach((p, i) => form.append('image', p.blob, `photo-${i + 1}.jpg`));
    consent.purposes.forEach((p) => form.append('purposes', p));
    form.append('venues', staff.venue);
    form.append('notice_version', consent.version);
    form.append('notice_sha256', consent.sha256);
    form.append('lang', consent.lang);
    form.append('expires_days', String(staff.days));
    form.append('method', 'kiosk-web');
    form.append('device', 'kiosk-page');
    setBusy(enrolButton, true, t('enrolling'));
    let answer;
    try {
      answer = await staffApi('POST', '/v1/enrolments', { form });
    } catch (err) {
      setBusy(enrolButton, false);
      if (ended(err)) return; // the guest's photos wait for staff to sign in again
      if (err instanceof FK.ApiError && err.code === 'notice_changed') {
        noticeChanged();
        return;
      }
      photoError.textContent = errorText(err);
      return;
    }
    setBusy(enrolButton, false);
    stopCamera();
    dropPhotos();
    result = { kind: 'enrol', code: answer.access_code, customer: answer.customer,
      receipt: answer.receipt, lang: consent.lang };
    await showDone();
  });

  // ------------------------------------------------------------------ notice changed

  // The venue changed the notice after this page loaded: the guest agreed to a text the
  // server no longer holds, so nothing was recorded. They read the new one and agree again.
  const reloadNoticeButton = el('button', {
    type: 'button', id: 'notice-reload', class: 'primary', 'data-t': 'notice_reload',
    text: t('notice_reload'), hidden: true, onclick: () => reloadNotice(),
  });
  photoError.after(reloadNoticeButton);

  /** While the notice changed, reading the new one is the only way on: enrolling again
   * or going back would offer the old text. */
  function showReload(on) {
    reloadNoticeButton.hidden = !on;
    enrolButton.hidden = on;
    $('back').hidden = on;
  }

  function noticeChanged() {
    FK.setLang(consent.lang); // the message in the language the guest read the notice in
    photoError.textContent = t('notice_changed');
    showReload(true);
    reloadNoticeButton.focus();
  }

  /** The notices as the server shows them now, read from a fresh copy of this page. */
  async function freshNotices() {
    const res = await fetch(window.location.pathname, { credentials: 'same-origin', cache: 'no-store' });
    if (!res.ok) throw new FK.ApiError(res.status, 'http_' + res.status, res.statusText);
    const page = new DOMParser().parseFromString(await res.text(), 'text/html');
    return JSON.parse(page.getElementById('fk-notices').textContent);
  }

  async function reloadNotice() {
    setBusy(reloadNoticeButton, true, t('notice_reloading'));
    let fresh;
    try {
      fresh = await freshNotices();
    } catch (err) {
      setBusy(reloadNoticeButton, false);
      photoError.textContent = errorText(err);
      return;
    }
    setBusy(reloadNoticeButton, false);
    Object.assign(NOTICES, fresh);
    showReload(false);
    // Photos were taken under the old agreement: the guest agrees again, then retakes them.
    stopCamera();
    dropPhotos();
    consent = null;
    $('confirm').checked = false;
    photoSection.hidden = true;
    showConsent();
    consentError.textContent = t('notice_reloaded');
  }

  // ------------------------------------------------------------------ receipt and code

  async function showQr() {
    const link = $('me-link');
    link.textContent = '';
    $('qr').removeAttribute('src');
    if (!result || !result.code) return;
    try {
      const qr = await staffApi('POST', '/v1/pages/customer-link', {
        json: { code: result.code, lang: FK.LANG },
      });
      if (!result || !result.code) return; // cleared meanwhile
      $('qr').src = qr.qr_svg;
      link.href = qr.url;
      link.textContent = qr.url;
    } catch (err) {
      if (ended(err)) return;
      link.href = '/me';
      link.textContent = errorText(err);
    }
  }

  function renderDone() {
    if (!result) return;
    $('done-h').textContent = t(result.kind === 'code' ? 'new_code_heading' : 'done_heading');
    $('receipt').replaceChildren(result.receipt ? FK.renderReceipt(result.receipt, 'h3', venueNames) : '');
    $('print').hidden = $('save-image').hidden = $('download').hidden = !result.receipt;
    tick();
  }

  async function showDone() {
    hideSteps();
    $('access-code').textContent = result.code;
    $('handover').hidden = false;
    $('code-cleared').hidden = true;
    startCountdown();
    renderDone();
    guestMode(true);
    reveal(doneSection, $('done-h'));
    await showQr();
  }

  function startCountdown() {
    clearInterval(codeTimer);
    codeDeadline = Date.now() + CODE_SECONDS * 1000;
    codeTimer = setInterval(tick, 1000);
  }

  function tick() {
    if (!result || !result.code) return;
    const left = Math.max(0, Math.ceil((codeDeadline - Date.now()) / 1000));
    const time = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
    $('code-timer').textContent = t('code_timer', { time });
    $('code-progress').style.width = `${(100 * left) / CODE_SECONDS}%`;
    if (left === 0) clearCode();
  }

  /** The access code and its QR code leave the screen (the receipt stays). */
  function clearCode() {
    clearInterval(codeTimer);
    codeTimer = null;
    if (result) result.code = null;
    $('access-code').textContent = '';
    $('qr').removeAttribute('src');
    $('me-link').textContent = '';
    $('me-link').setAttribute('href', '/me');
    $('handover').hidden = true;
    $('code-cleared').hidden = false;
  }

  $('code-saved').addEventListener('click', () => {
    clearCode();
    $('done-h').focus();
  });

  $('print').addEventListener('click', () => FK.printOnly(doneSection));
  $('save-image').addEventListener('click', () => {
    if (result && result.receipt) FK.saveReceiptImage(result.receipt, venueNames);
  });
  $('download').addEventListener('click', () => {
    if (result && result.receipt) FK.downloadJson(FK.receiptFilename(result.receipt), result.receipt);
  });

  function resetGuest() {
    stopCamera();
    dropPhotos();
    clearInterval(codeTimer);
    codeTimer = null;
    consent = null;
    result = null;
    consentForm.reset();
    consentError.textContent = '';
    showReload(false);
    $('access-code').textContent = '';
    $('qr').removeAttribute('src');
    $('me-link').textContent = '';
    $('me-link').setAttribute('href', '/me'); // the link carried the code too
    $('receipt').replaceChildren();
  }

  $('next').addEventListener('click', async () => {
    // Only staff move on to the next guest: the PIN again, checked by the server.
    if (!(await askPin('next'))) return;
    resetGuest();
    window.scrollTo(0, 0);
    showConsent();
  });

  // ------------------------------------------------------------------ language

  document.addEventListener('fk:lang', () => {
    renderStatus();
    renderPinDialog();
    if (staff && !staffForm.hidden) renderWho();
    if (!consentSection.hidden) renderNotice();
    renderStaffBar();
    consentSummary();
    if (!photoSection.hidden) {
      renderPhotos();
      showHint();
    }
    if (!doneSection.hidden) {
      renderDone();
      if (result && result.code) showQr();
    }
  });

  // ------------------------------------------------------------------ start

  if (token && staff.venue) {
    showConsent(false);
    // A tab reopened after the idle time finds its session over at once.
    staffApi('GET', '/v1/staff/me').catch(() => {});
  } else if (token) {
    showVenueForm(false);
  } else {
    showSignIn([], false);
  }
})();
