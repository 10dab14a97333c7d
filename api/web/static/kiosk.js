/* The consent kiosk: staff sign-in, the notice and the purposes, then (only after the
 * customer ticked and confirmed) the camera or photo files, then the receipt, the access
 * code and the QR code. Photos stay in this page's memory until they are sent, and are
 * dropped as soon as the enrolment answers. */
'use strict';

(function () {
  const { t, el, api, errorText, store, reveal, setBusy, purposeName } = window.FK;
  const $ = (id) => document.getElementById(id);
  const MAX_PHOTOS = 5;
  const HINT_EVERY_MS = 1200;

  const staffSection = $('staff-section');
  const staffForm = $('staff-form');
  const staffKey = $('staff-key');
  const venueSelect = $('venue');
  const validity = $('validity');
  const staffError = $('staff-error');
  const staffBar = $('staff-bar');
  const consentSection = $('consent-section');
  const consentForm = $('consent-form');
  const consentError = $('consent-error');
  const photoSection = $('photo-section');
  const video = $('camera');
  const hint = $('hint');
  const photoList = $('photos');
  const photoError = $('photo-error');
  const enrolButton = $('enrol');
  const doneSection = $('done-section');

  let staff = store.getJson('staff');
  let consent = null; // {purposes, lang, version}, set when the customer confirmed
  let photos = []; // {blob, url, faces, error}
  let stream = null;
  let hintRun = 0;
  let result = null; // the enrolment answer, shown once then dropped

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

  staffForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (venueSelect.options.length === 0 && !(await loadVenues())) return;
    const option = venueSelect.selectedOptions[0];
    staff = {
      key: staffKey.value.trim(),
      venue: venueSelect.value,
      venueName: option ? option.textContent : venueSelect.value,
      days: Number(validity.value),
    };
    store.setJson('staff', staff);
    staffKey.value = '';
    showConsent();
  });

  function showStaff(focus = true) {
    stopCamera();
    staffBar.hidden = true;
    consentSection.hidden = true;
    photoSection.hidden = true;
    doneSection.hidden = true;
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
    resetCustomer();
    venueSelect.replaceChildren();
    venueSelect.disabled = true;
    showStaff();
  });

  // ------------------------------------------------------------------ notice and consent

  function retentionText() {
    const until = new Date(Date.now() + staff.days * 86400000);
    return t('retention_text', {
      days: staff.days, date: window.FK.fmtDay(until), grace: consentForm.dataset.grace,
    });
  }

  function showConsent(focus = true) {
    staffSection.hidden = true;
    photoSection.hidden = true;
    doneSection.hidden = true;
    staffBar.hidden = false;
    $('staff-bar-text').textContent = t('staff_bar', { venue: staff.venueName, days: staff.days });
    $('venue-name').textContent = staff.venueName;
    $('retention-text').textContent = retentionText();
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
    consent = {
      purposes,
      lang: consentForm.dataset.lang,
      version: consentForm.dataset.noticeVersion,
    };
    showPhoto();
  });

  // ------------------------------------------------------------------ photos

  function showPhoto() {
    consentSection.hidden = true;
    photoError.textContent = '';
    hint.textContent = '';
    $('consent-summary').textContent = t('consent_summary', {
      purposes: consent.purposes.map(purposeName).join(', '),
    });
    renderPhotos();
    reveal(photoSection, $('photo-h'));
  }

  function hintFor(count) {
    if (count === 0) return { text: t('hint_none'), cls: 'hint warn' };
    if (count === 1) return { text: t('hint_one'), cls: 'hint ok' };
    return { text: t('hint_many', { n: count }), cls: 'hint warn' };
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
          const h = hintFor(await countFaces(frame));
          if (run === hintRun) {
            hint.textContent = h.text;
            hint.className = h.cls;
          }
        } catch (err) {
          if (run === hintRun) {
            hint.textContent = errorText(err);
            hint.className = 'hint warn';
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
    $('camera-start').hidden = true;
    $('camera-stop').hidden = false;
    $('take-photo').hidden = false;
    hint.textContent = t('hint_checking');
    hint.className = 'hint';
    hintRun += 1;
    hintLoop(hintRun);
    $('take-photo').focus();
  }

  function stopCamera() {
    hintRun += 1;
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.srcObject = null;
    video.hidden = true;
    $('camera-start').hidden = false;
    $('camera-stop').hidden = true;
    $('take-photo').hidden = true;
  }

  $('camera-start').addEventListener('click', startCamera);
  $('camera-stop').addEventListener('click', () => {
    stopCamera();
    hint.textContent = '';
    $('camera-start').focus();
  });

  $('take-photo').addEventListener('click', async () => {
    const frame = await grabFrame(1280);
    if (frame) addPhoto(frame);
  });

  $('photo-files').addEventListener('change', (ev) => {
    for (const file of ev.target.files) addPhoto(file);
    ev.target.value = '';
  });

  function addPhoto(blob) {
    photoError.textContent = '';
    if (photos.length >= MAX_PHOTOS) {
      photoError.textContent = t('photos_too_many');
      return;
    }
    const photo = { blob, url: URL.createObjectURL(blob), faces: null, error: null };
    photos.push(photo);
    renderPhotos();
    countFaces(blob).then((n) => { photo.faces = n; }, (err) => { photo.error = errorText(err); })
      .finally(renderPhotos);
  }

  function photoStatus(photo, n) {
    if (photo.error) return t('photo_status_error', { n, error: photo.error });
    if (photo.faces === null) return t('hint_checking');
    if (photo.faces === 1) return t('photo_status_one', { n });
    if (photo.faces === 0) return t('photo_status_none', { n });
    return t('photo_status_many', { n, count: photo.faces });
  }

  function renderPhotos() {
    $('photos-h').textContent = t('photos_heading', { n: photos.length });
    photoList.replaceChildren(...photos.map((photo, i) => {
      const n = i + 1;
      const ok = photo.faces === 1;
      return el('li', { class: 'photo' },
        el('img', { src: photo.url, alt: t('photo_alt', { n }), width: 160, height: 120 }),
        el('p', { class: ok ? 'ok' : (photo.faces === null && !photo.error ? '' : 'warn'),
          text: photoStatus(photo, n) }),
        el('button', { type: 'button', text: t('photo_remove', { n }),
          onclick: () => removePhoto(i) }));
    }));
    const bad = photos.some((p) => p.faces !== null && p.faces !== 1);
    enrolButton.disabled = photos.length < 1 || photos.length > MAX_PHOTOS || bad;
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
    const form = new FormData();
    photos.forEach((p, i) => form.append('image', p.blob, `photo-${i + 1}.jpg`));
    consent.purposes.forEach((p) => form.append('purposes', p));
    form.append('venues', staff.venue);
    form.append('notice_version', consent.version);
    form.append('lang', consent.lang);
    form.append('expires_days', String(staff.days));
    form.append('method', 'kiosk-web');
    form.append('device', 'kiosk-page');
    setBusy(enrolButton, true, t('enrolling'));
    try {
      result = await api('POST', '/v1/enrolments', { token: staff.key, form });
    } catch (err) {
      setBusy(enrolButton, false);
      photoError.textContent = errorText(err);
      return;
    }
    setBusy(enrolButton, false);
    stopCamera();
    dropPhotos();
    await showDone();
  });

  // ------------------------------------------------------------------ receipt and code

  async function showDone() {
    photoSection.hidden = true;
    $('access-code').textContent = result.access_code;
    const link = $('me-link');
    link.textContent = '';
    $('qr').removeAttribute('src');
    try {
      const qr = await api('POST', '/v1/pages/customer-link', {
        token: staff.key, json: { code: result.access_code },
      });
      $('qr').src = qr.qr_svg;
      link.href = qr.url;
      link.textContent = qr.url;
    } catch (err) {
      link.href = '/me';
      link.textContent = errorText(err);
    }
    const receipt = $('receipt');
    receipt.replaceChildren(result.receipt ? window.FK.renderReceipt(result.receipt, 'h3') : '');
    reveal(doneSection, $('done-h'));
  }

  $('print').addEventListener('click', () => window.FK.printOnly(doneSection));
  $('download').addEventListener('click', () => {
    if (result && result.receipt) {
      window.FK.downloadJson(window.FK.receiptFilename(result.receipt), result.receipt);
    }
  });

  function resetCustomer() {
    stopCamera();
    dropPhotos();
    consent = null;
    result = null;
    consentForm.reset();
    consentError.textContent = '';
    $('access-code').textContent = '';
    $('qr').removeAttribute('src');
    $('me-link').textContent = '';
    $('receipt').replaceChildren();
  }

  $('next').addEventListener('click', () => {
    resetCustomer();
    window.scrollTo(0, 0);
    showConsent();
  });

  // ------------------------------------------------------------------ start

  if (staff && staff.key && staff.venue) showConsent(false);
  else showStaff(false);
})();
