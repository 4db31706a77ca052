// Kura admin UI: a client of the same JSON API everything else uses.
// No inline script (the Content-Security-Policy forbids it), no third-party code.
'use strict';

const state = { me: null, csrf: null, mfaToken: null };

const $ = (id) => document.getElementById(id);

function show(view) {
  for (const v of ['login-view', 'mfa-view', 'enrol-view', 'password-view', 'home-view']) $(v).hidden = v !== view;
}

function notice(text) {
  const n = $('notice');
  n.textContent = text || '';
  n.hidden = !text;
}

async function api(method, path, body) {
  const headers = { 'Accept': 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && state.csrf) headers['X-CSRF-Token'] = state.csrf;
  const res = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  if (res.status !== 204) {
    try { data = await res.json(); } catch (_) { data = null; }
  }
  return { status: res.status, data };
}

function errorText(r) {
  const e = r.data && r.data.error;
  return e ? e.message : `The server answered ${r.status}.`;
}

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text;
  return td;
}

function noticeItem(title, when, body) {
  const li = document.createElement('li');
  const t = document.createElement('strong');
  t.textContent = title;
  const w = document.createElement('div');
  w.className = 'when';
  w.textContent = when;
  li.append(t, w);
  if (body) {
    const b = document.createElement('div');
    b.textContent = body;
    li.append(b);
  }
  return li;
}

// The operator's notices (incidents, maintenance) for everyone; the tenant's
// security alerts (from its audit log) for those who may read it.
async function loadNotices() {
  const r = await api('GET', '/api/v1/notices');
  const list = $('notices-list');
  list.replaceChildren();
  const notices = r.status === 200 ? r.data.results : [];
  for (const n of notices) {
    list.append(noticeItem(`${n.kind === 'incident' ? 'Incident' : 'Maintenance'}: ${n.title}`,
      `${n.startsAt} – ${n.endsAt}`, n.body));
  }
  $('notices-card').hidden = notices.length === 0;
  const perms = (state.me && state.me.permissions) || [];
  if (!perms.includes('audit.read')) { $('alerts-card').hidden = true; return; }
  const a = await api('GET', '/api/v1/audit?action=security.*&limit=10');
  const alerts = a.status === 200 ? a.data.results : [];
  const al = $('alerts-list');
  al.replaceChildren();
  for (const e of alerts) {
    const what = e.action === 'security.volume_alert'
      ? `Unusual reading by user ${e.target.id} (${e.target.properties.replace(':', ': ')} within an hour)`
      : e.action === 'security.ip_blocked'
        ? `Address ${e.target.id} blocked after repeated failed sign-ins`
        : e.action;
    al.append(noticeItem(what, e.time));
  }
  $('alerts-card').hidden = alerts.length === 0;
}

async function loadUsers() {
  const r = await api('GET', '/api/v1/users');
  $('users-card').hidden = r.status !== 200;
  if (r.status !== 200) return;
  const body = $('users-body');
  body.replaceChildren();
  for (const u of r.data.results) {
    const tr = document.createElement('tr');
    tr.append(cell(u.displayName), cell(u.email), cell(u.role), cell(u.status));
    body.append(tr);
  }
}

function render() {
  const me = state.me;
  $('who').hidden = !me;
  $('logout').hidden = !me;
  if (!me) { show(state.mfaToken ? 'mfa-view' : 'login-view'); return; }
  $('who').textContent = `${me.user.displayName} · ${me.tenant.name}`;
  if (me.passwordChangeRequired) {
    $('password-reason').textContent = 'Your password must be changed before you continue.';
    $('pw-cancel').hidden = true;
    show('password-view');
    return;
  }
  if (me.mfaEnrolmentRequired) {
    startEnrol('Your organisation requires two-step sign-in. Set it up to continue.', false);
    return;
  }
  $('home-mfa').textContent = me.user.mfaEnabled ? 'On' : 'Off';
  $('setup-mfa').hidden = me.user.mfaEnabled;
  $('home-title').textContent = `Welcome, ${me.user.displayName}`;
  $('home-tenant').textContent = `${me.tenant.name} (${me.tenant.id})`;
  $('home-role').textContent = me.user.role;
  $('home-email').textContent = me.user.email;
  show('home-view');
  loadNotices();
  loadUsers();
}

async function refresh() {
  const r = await api('GET', '/api/v1/me');
  if (r.status === 200) {
    state.me = r.data;
    state.csrf = r.data.csrfToken;
  } else {
    state.me = null;
    state.csrf = null;
  }
  render();
}

async function onLogin(ev) {
  ev.preventDefault();
  notice('');
  const btn = $('login-submit');
  btn.disabled = true;
  try {
    const r = await api('POST', '/api/v1/auth/login', {
      tenant: $('login-tenant').value.trim(),
      email: $('login-email').value.trim(),
      password: $('login-password').value,
    });
    $('login-password').value = '';
    if (r.status !== 200) { notice(errorText(r)); return; }
    if (r.data.mfaRequired) {
      state.mfaToken = r.data.mfaToken;
      useRecovery(false);
      render();
      $('mfa-code').focus();
      return;
    }
    state.csrf = r.data.csrfToken;
    await refresh();
  } finally {
    btn.disabled = false;
  }
}

async function onChangePassword(ev) {
  ev.preventDefault();
  const list = $('pw-errors');
  list.replaceChildren();
  const fresh = $('pw-new').value;
  if (fresh !== $('pw-repeat').value) {
    const li = document.createElement('li');
    li.textContent = 'The two new passwords differ.';
    list.append(li);
    return;
  }
  const btn = $('pw-submit');
  btn.disabled = true;
  try {
    const r = await api('POST', '/api/v1/auth/password', {
      currentPassword: $('pw-current').value, newPassword: fresh,
    });
    if (r.status === 204) {
      for (const id of ['pw-current', 'pw-new', 'pw-repeat']) $(id).value = '';
      await refresh();
      return;
    }
    const details = (r.data && r.data.error && r.data.error.details) || [];
    const lines = details.length ? details.map((d) => d.message) : [errorText(r)];
    for (const line of lines) {
      const li = document.createElement('li');
      li.textContent = line;
      list.append(li);
    }
  } finally {
    btn.disabled = false;
  }
}

function useRecovery(on) {
  $('mfa-code-label').hidden = on;
  $('mfa-code').required = !on;
  $('mfa-recovery-label').hidden = !on;
  $('mfa-recovery').required = on;
  $('mfa-use-recovery').hidden = on;
  $('mfa-code').value = '';
  $('mfa-recovery').value = '';
}

async function onMfa(ev) {
  ev.preventDefault();
  notice('');
  const btn = $('mfa-submit');
  btn.disabled = true;
  try {
    const body = { mfaToken: state.mfaToken };
    if ($('mfa-recovery-label').hidden) body.code = $('mfa-code').value.trim();
    else body.recoveryCode = $('mfa-recovery').value.trim();
    const r = await api('POST', '/api/v1/auth/login/mfa', body);
    $('mfa-code').value = '';
    $('mfa-recovery').value = '';
    if (r.status !== 200) {
      notice(errorText(r));
      // an ended sign-in starts again with the password
      if (r.data && r.data.error && r.data.error.code === 'mfa_challenge_invalid') {
        state.mfaToken = null;
        render();
      }
      return;
    }
    state.mfaToken = null;
    state.csrf = r.data.csrfToken;
    await refresh();
  } finally {
    btn.disabled = false;
  }
}

function startEnrol(reason, cancellable) {
  $('enrol-reason').textContent = reason;
  $('enrol-cancel').hidden = !cancellable;
  $('enrol-start-form').hidden = false;
  $('enrol-confirm-form').hidden = true;
  $('enrol-done').hidden = true;
  show('enrol-view');
}

function showQr(svgText) {
  // Parsed as an image document and inserted as nodes: never as HTML.
  const doc = new DOMParser().parseFromString(svgText, 'image/svg+xml');
  const svg = doc.documentElement;
  const box = $('enrol-qr');
  box.replaceChildren();
  if (svg && svg.nodeName === 'svg') box.append(document.importNode(svg, true));
}

async function onEnrolStart(ev) {
  ev.preventDefault();
  notice('');
  const r = await api('POST', '/api/v1/me/mfa/totp', { password: $('enrol-password').value });
  $('enrol-password').value = '';
  if (r.status !== 201) {
    const d = r.data && r.data.error && r.data.error.details;
    notice(d && d.length ? d[0].message : errorText(r));
    return;
  }
  showQr(r.data.qrSvg);
  $('enrol-secret').textContent = r.data.secret;
  $('enrol-start-form').hidden = true;
  $('enrol-confirm-form').hidden = false;
  $('enrol-code').focus();
}

async function onEnrolConfirm(ev) {
  ev.preventDefault();
  notice('');
  const r = await api('POST', '/api/v1/me/mfa/totp/confirm', { code: $('enrol-code').value.trim() });
  $('enrol-code').value = '';
  if (r.status !== 200) {
    const d = r.data && r.data.error && r.data.error.details;
    notice(d && d.length ? d[0].message : errorText(r));
    return;
  }
  $('enrol-secret').textContent = '';
  $('enrol-qr').replaceChildren();
  const list = $('recovery-codes');
  list.replaceChildren();
  for (const c of r.data.recoveryCodes) {
    const li = document.createElement('li');
    li.textContent = c;
    list.append(li);
  }
  $('enrol-confirm-form').hidden = true;
  $('enrol-done').hidden = false;
}

async function onLogout() {
  await api('POST', '/api/v1/auth/logout');
  state.me = null;
  state.csrf = null;
  state.mfaToken = null;
  render();
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', onLogin);
  $('password-form').addEventListener('submit', onChangePassword);
  $('logout').addEventListener('click', onLogout);
  $('change-pw').addEventListener('click', () => {
    $('password-reason').textContent = 'Choose a new password.';
    $('pw-cancel').hidden = false;
    show('password-view');
  });
  $('pw-cancel').addEventListener('click', () => show('home-view'));
  $('mfa-form').addEventListener('submit', onMfa);
  $('mfa-use-recovery').addEventListener('click', () => useRecovery(true));
  $('setup-mfa').addEventListener('click', () => startEnrol('Protect your account with an authenticator app.', true));
  $('enrol-cancel').addEventListener('click', () => show('home-view'));
  $('enrol-start-form').addEventListener('submit', onEnrolStart);
  $('enrol-confirm-form').addEventListener('submit', onEnrolConfirm);
  $('enrol-finish').addEventListener('click', () => refresh());
  refresh();
});
