/* The consent counter: staff sign-in, then the tablet goes to the guest (kiosk mode: no
 * navigation, no staff controls), who reads the notice and agrees or refuses. A refusal
 * records nothing about them, only an anonymous count. After agreeing: the camera (a
 * short burst of photos, only while exactly one face is seen) or photo files; then the
 * receipt in plain words, the access code (cleared from the screen after a countdown)
 * and a QR code to the guest's page in their language. Photos stay in this page's memory
 * until they are sent and are dropped as soon as the enrolment answers. The language can
 * be switched at any step without reloading, so nothing on the screen is lost. */
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

  const staffSection = $('staff-section');
  const staffKey = $('staff-key');
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

  let staff = store.getJson('staff');
  let venueNames = store.getJson('venues') || {};
  let consent = null; // {purposes, lang, version}, set when the guest agreed
  let photos = []; // {blob, url, faces, error}
  let stream = null;
  let hintRun = 0;
  let lastCount = null; // faces in the latest camera frame
  let result = null; // what the done screen shows: {kind, receipt, code, customer}
  let codeTimer = null;
  let codeDeadline = 0;

  // ------------------------------------------------------------------ kiosk mode

  /** A guest holds the tablet: navigation and staff controls are hidden; the Staff
   * button asks for the staff key again before showing them. */
  function guestMode(on) {
    document.body.classList.toggle('kiosk-mode', on);
    staffBar.hidden = on || !staff;
    $('staff-unlock').hidden = !on;
    if (on) $('new-code-form').hidden = true;
  }

  $('staff-unlock').addEventListener('click', () => {
    $('unlock-key').value = '';
    $('unlock-error').textContent = '';
    $('unlock-dialog').showModal();
    $('unlock-key').focus();
  });
  $('unlock-cancel').addEventListener('click', () => $('unlock-dialog').close());
  $('unlock-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!staff || $('unlock-key').value.trim() !== staff.key) {
      $('unlock-error').textContent = t('unlock_wrong');
      $('unlock-key').focus();
      return;
    }
    $('unlock-key').value = '';
    $('unlock-dialog').close();
    guestMode(false);
    staffBar.hidden = false;
    $('staff-to-guest').focus();
  });
  $('staff-to-guest').addEventListener('click', () => {
    if (!doneSection.hidden || !photoSection.hidden) guestMode(true);
    else showConsent();
  });

  // ------------------------------------------------------------------ staff sign-in

  async function loadVenues() {
    staffError.textContent = '';
    const key = staffKey.value.trim();
    if (!key) {
      staffError.textContent = t('err_unauthorized');
      staffKey.focus();
      return false;
    }
    try {
      const data = await api('GET', '/v1/venues', { token: key });
      venueNames = Object.fromEntries(data.venues.map((v) => [v.id, v.name]));
      venueSelect.replaceChildren(...data.venues.filter((v) => !v.disabled).map((v) =>
        el('option', { value: v.id, text: v.name === v.id ? v.id : `${v.name} (${v.id})` })));
      venueSelect.disabled = venueSelect.options.length === 0;
      if (venueSelect.options.length === 0) {
        staffError.textContent = t('venue_none');
        return false;
      }
      if (staff && staff.venue) venueSelect.value = staff.venue;
      return true;
    } catch (err) {
      staffError.textContent = errorText(err);
      return false;
    }
  }

  $('venue-load').addEventListener('click', loadVenues);
  staffKey.addEventListener('change', () => { if (staffKey.value.trim()) loadVenues(); });

  $('staff-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (venueSelect.options.length === 0 && !(await loadVenues())) return;
    staff = {
      key: staffKey.value.trim(),
      venue: venueSelect.value,
      venueName: venueNames[venueSelect.value] || venueSelect.value,
      days: Number(validity.value),
    };
    store.setJson('staff', staff);
    store.setJson('venues', venueNames);
    staffKey.value = '';
    showConsent();
  });

  function hideSteps() {
    for (const s of [staffSection, consentSection, refusedSection, photoSection, doneSection]) {
      s.hidden = true;
    }
  }

  function showStaff(focus = true) {
    stopCamera();
    hideSteps();
    guestMode(false);
    staffBar.hidden = true;
    if (staff) validity.value = String(staff.days);
    reveal(staffSection, null, false);
    if (focus) staffKey.focus();
  }

  $('staff-change').addEventListener('click', () => {
    staffKey.value = staff ? staff.key : '';
    venueSelect.replaceChildren();
    loadVenues();
    showStaff();
  });

  $('staff-signout').addEventListener('click', () => {
    store.del('staff');
    staff = null;
    resetGuest();
    venueSelect.replaceChildren();
    venueSelect.disabled = true;
    showStaff();
  });

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
      out = await api('POST', `/v1/customers/${encodeURIComponent(customer)}/access-code`, {
        token: staff.key,
      });
    } catch (err) {
      $('new-code-error').textContent = errorText(err);
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
    consent = { purposes, lang: FK.LANG, version: NOTICES[FK.LANG].version };
    showPhoto();
  });

  $('consent-refuse').addEventListener('click', () => {
    // Nothing about the guest is sent: the server only counts one refusal.
    api('POST', '/v1/pages/refusals', { token: staff.key }).catch(() => {});
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
    const data = await api('POST', '/v1/faces/count', { token: staff.key, form });
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
    countFaces(blob).then((n) => { photo.faces = n; }, (err) => { photo.error = err; })
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
    form.append('lang', consent.lang);
    form.append('expires_days', String(staff.days));
    form.append('method', 'kiosk-web');
    form.append('device', 'kiosk-page');
    setBusy(enrolButton, true, t('enrolling'));
    let answer;
    try {
      answer = await api('POST', '/v1/enrolments', { token: staff.key, form });
    } catch (err) {
      setBusy(enrolButton, false);
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

  // ------------------------------------------------------------------ receipt and code

  async function showQr() {
    const link = $('me-link');
    link.textContent = '';
    $('qr').removeAttribute('src');
    if (!result || !result.code) return;
    try {
      const qr = await api('POST', '/v1/pages/customer-link', {
        token: staff.key, json: { code: result.code, lang: FK.LANG },
      });
      if (!result || !result.code) return; // cleared meanwhile
      $('qr').src = qr.qr_svg;
      link.href = qr.url;
      link.textContent = qr.url;
    } catch (err) {
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
    $('access-code').textContent = '';
    $('qr').removeAttribute('src');
    $('me-link').textContent = '';
    $('receipt').replaceChildren();
  }

  $('next').addEventListener('click', async () => {
    const sure = await FK.confirmWith($('next-dialog'), $('next-confirm'), $('next-cancel'));
    if (!sure) return;
    resetGuest();
    window.scrollTo(0, 0);
    showConsent();
  });

  // ------------------------------------------------------------------ language

  document.addEventListener('fk:lang', () => {
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

  if (staff && staff.key && staff.venue) showConsent(false);
  else showStaff(false);
})();
