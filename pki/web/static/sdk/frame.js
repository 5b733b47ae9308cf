/*
 * The iframe of kpki's financial-certificate SDK (served from kpki's origin, embedded by
 * fincert.js). It alone talks to kpki's /sdk/v1 routes, same-origin; the embedding page only
 * receives results through postMessage.
 *
 * Messages: a message is read only when it comes from the parent window and the page origin
 * this frame was opened for (which the server checks against the organisation's list), with
 * a fresh 128-bit nonce; anything else is ignored. A second call while one is open is
 * answered 100008; a call with a bad method or parameters 700009.
 *
 * PIN pads are dealt by the server (shuffled, one use); this frame sends the positions of
 * the keys pressed, never the digits. Keyboard: digits, Backspace, Enter, Escape, Tab.
 */
(function () {
  'use strict';
  const TAG = 'fincert';
  const query = new URLSearchParams(window.location.search);
  const PARENT = query.get('origin');
  const ORG = query.get('org');
  let lang = query.get('lang') === 'en' ? 'en' : 'ko';

  const TEXT = {
    ko: {
      title: '금융인증서', toggle: 'English', close: '닫기', cancel: '취소', ok: '확인',
      next: '다음', connectTitle: '금융인증서 클라우드 연결',
      connectLead: '이름, 휴대폰 번호, 생년월일을 입력하면 휴대폰으로 인증번호 2자리를 보냅니다.',
      name: '이름', phone: '휴대폰 번호', birth: '생년월일 (YYYY-MM-DD)', sendCode: '인증번호 받기',
      code: '인증번호 (2자리)', codeLead: '휴대폰으로 받은 인증번호 2자리를 입력하세요.',
      wrongCode: '인증번호가 틀렸습니다.', chooseCert: '인증서 선택',
      noCert: '이 기관에 등록된 금융인증서가 없습니다.', expires: '만료일',
      status: { valid: '정상', revoked: '폐지', suspended: '정지', expired: '만료' },
      locked: '잠김', pinTitle: '인증서 비밀번호 (6자리)', newPin: '새 비밀번호 (6자리)',
      againPin: '새 비밀번호 확인', oldPin: '현재 비밀번호', content: '서명할 내용',
      backspace: '← 지움', clear: '전체 지움', blank: '빈 키',
      wrongPin: (n) => `비밀번호가 틀렸습니다. 남은 횟수 ${n}회`,
      pinPolicy: '사용할 수 없는 비밀번호입니다. 다른 비밀번호를 입력하세요.',
      pinMismatch: '두 비밀번호가 다릅니다.', manageTitle: '인증서 관리',
      changePin: '비밀번호 변경', revoke: '인증서 폐지',
      revokeAsk: '이 인증서를 폐지하면 되돌릴 수 없습니다. 비밀번호를 입력하세요.',
      details: { seq: '일련번호', subject: '소유자', issuer: '발급자', from: '유효기간 시작',
        to: '유효기간 만료', state: '상태' },
      issueTitle: '금융인증서 발급', renewTitle: '금융인증서 갱신',
      noRenewable: '갱신할 수 있는 인증서가 없습니다 (만료 1개월 전부터).',
      failed: '요청을 처리하지 못했습니다.',
    },
    en: {
      title: 'Financial certificate', toggle: '한국어', close: 'Close', cancel: 'Cancel',
      ok: 'OK', next: 'Next', connectTitle: 'Connect to the certificate cloud',
      connectLead: 'Enter your name, phone number and birth date: a 2-digit code is sent to your phone.',
      name: 'Name', phone: 'Phone number', birth: 'Birth date (YYYY-MM-DD)',
      sendCode: 'Send code', code: 'Code (2 digits)',
      codeLead: 'Enter the 2-digit code sent to your phone.', wrongCode: 'Wrong code.',
      chooseCert: 'Choose a certificate',
      noCert: 'No financial certificate is registered at this institution.',
      expires: 'Expires',
      status: { valid: 'valid', revoked: 'revoked', suspended: 'suspended', expired: 'expired' },
      locked: 'locked', pinTitle: 'Certificate PIN (6 digits)', newPin: 'New PIN (6 digits)',
      againPin: 'New PIN again', oldPin: 'Current PIN', content: 'Content to sign',
      backspace: '← Delete', clear: 'Clear', blank: 'blank key',
      wrongPin: (n) => `Wrong PIN: ${n} attempt${n === 1 ? '' : 's'} left`,
      pinPolicy: 'This PIN cannot be used: choose another.',
      pinMismatch: 'The two PINs differ.', manageTitle: 'Manage certificate',
      changePin: 'Change PIN', revoke: 'Revoke certificate',
      revokeAsk: 'Revoking cannot be undone. Enter the PIN to revoke.',
      details: { seq: 'Serial', subject: 'Holder', issuer: 'Issuer', from: 'Valid from',
        to: 'Valid until', state: 'Status' },
      issueTitle: 'Issue a financial certificate', renewTitle: 'Renew a certificate',
      noRenewable: 'No certificate can be renewed yet (from a month before expiry).',
      failed: 'The request failed.',
    },
  };
  const t = (key) => TEXT[lang][key];

  // The server's refusal codes -> the SDK's error codes (docs/browser.md).
  const SERVER_CODES = {
    unauthorized: 700003, origin_not_allowed: 700002, session_invalid: 700013,
    unknown_encoding: 700005, pin_locked: 700006, pad_used: 700008, pad_expired: 700008,
    pad_unknown: 700008, not_connected: 700010, revoked: 700012, expired: 700012,
    suspended: 700012, ssn_mismatch: 700017, renewal_not_due: 700018, bad_request: 700004,
    unencodable: 700004, too_large: 700004, bad_json: 700004,
  };
  const CANCELLED = { code: 800000, message: 'The user cancelled.' };

  const state = {
    session: null, device: null, apiKey: null, connected: false,
    seen: new Set(), current: null, render: null, keys: null,
  };

  // -- messages ------------------------------------------------------------------------

  function send(message) {
    window.parent.postMessage(Object.assign({ kpki: TAG, v: 1 }, message), PARENT);
  }

  function sdkError(e) {
    if (e && typeof e.code === 'number') { return e; }
    if (e && e.server) {
      return { code: SERVER_CODES[e.server] || 700014, message: e.message || t('failed'),
        detail: e.server };
    }
    return { code: 700014, message: String((e && e.message) || e) };
  }

  function finish(call, ok, value, quiet) {
    if (call.done) { return; }
    call.done = true;
    state.current = null;
    document.removeEventListener('keydown', onKey, true);
    state.keys = null;
    document.getElementById('backdrop').hidden = true;
    if (!quiet) {
      send(ok ? { type: 'result', nonce: call.nonce, ok: true, value: value }
        : { type: 'result', nonce: call.nonce, ok: false, error: sdkError(value) });
    }
  }

  window.addEventListener('message', (event) => {
    if (!PARENT || event.source !== window.parent || event.origin !== PARENT) {
      return; // not our page: ignored
    }
    const m = event.data;
    if (!m || typeof m !== 'object' || m.kpki !== TAG || typeof m.nonce !== 'string'
        || !/^[0-9a-f]{32}$/.test(m.nonce)) {
      return;
    }
    if (m.type === 'abort') {
      if (state.current && state.current.nonce === m.nonce) {
        finish(state.current, false, null, true);
      }
      return;
    }
    if (m.type !== 'call' || state.seen.has(m.nonce)) {
      return; // a replayed call is never run twice
    }
    state.seen.add(m.nonce);
    const reply = (code, message) => send({ type: 'result', nonce: m.nonce, ok: false,
      error: { code: code, message: message } });
    if (state.current) {
      reply(100008, 'The SDK is already running.');
      return;
    }
    if (typeof m.method !== 'string' || !Object.prototype.hasOwnProperty.call(METHODS, m.method)
        || !m.params || typeof m.params !== 'object' || Array.isArray(m.params)) {
      reply(700009, 'A message to the SDK frame was not understood.');
      return;
    }
    if (CHECKS[m.method] && !CHECKS[m.method](m.params)) {
      reply(700009, 'A message to the SDK frame was not understood.');
      return;
    }
    if (m.method !== 'init' && !state.session) {
      reply(700001, 'The SDK is not initialised.');
      return;
    }
    const call = { nonce: m.nonce, done: false };
    state.current = call;
    METHODS[m.method](m.params, call).then((value) => finish(call, true, value),
      (e) => finish(call, false, e));
  });

  // -- the server ----------------------------------------------------------------------

  async function api(path, body, call, headers) {
    if (call && call.done) { throw CANCELLED; }
    let response;
    try {
      response = await fetch(path, {
        method: 'POST', credentials: 'omit', cache: 'no-store',
        headers: Object.assign({
          'Content-Type': 'application/json', 'X-Sdk-Origin': PARENT,
          'X-Device-Id': state.device || '',
        }, state.session ? { 'X-Sdk-Session': state.session } : {}, headers || {}),
        body: JSON.stringify(body || {}),
      });
    } catch (e) {
      throw { code: 700015, message: 'kpki cannot be reached.' };
    }
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (call && call.done) { throw CANCELLED; }
    if (!response.ok) {
      const e = (data && data.error) || {};
      throw { server: e.code || 'refused', message: e.message || '', data: e };
    }
    return data;
  }

  function storageKey() { return `kpki.fincert.session.${ORG}.${state.device}`; }

  function remember(token) {
    try {
      if (token) { window.localStorage.setItem(storageKey(), token); }
      else { window.localStorage.removeItem(storageKey()); }
    } catch (e) { /* no storage: the session lasts as long as the page */ }
  }

  async function openSession(call) {
    let resume = null;
    try { resume = window.localStorage.getItem(storageKey()); } catch (e) { resume = null; }
    const answer = await api('session', { org_code: ORG, origin: PARENT, device: state.device,
      resume: resume }, call, { 'X-Sdk-Key': state.apiKey });
    state.session = answer.session;
    state.connected = answer.connected;
    remember(answer.connected ? answer.session : null);
    return answer;
  }

  // -- the dialog ----------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === 'on') { Object.entries(v).forEach(([e, f]) => node.addEventListener(e, f)); }
      else if (k === 'text') { node.textContent = v; }
      else if (v !== false && v !== null && v !== undefined) { node.setAttribute(k, v); }
    });
    children.flat(Infinity).forEach((c) => node.append(c));
    return node;
  }

  function notice(text) { document.getElementById('notice').textContent = text || ''; }

  // Show a view: `draw()` returns its nodes (called again when the language changes).
  function showView(call, title, draw) {
    if (call.done) { throw CANCELLED; }
    state.render = () => {
      document.documentElement.lang = lang;
      document.getElementById('title').textContent = t(title);
      document.getElementById('lang').textContent = t('toggle');
      document.getElementById('close').setAttribute('aria-label', t('close'));
      const view = document.getElementById('view');
      view.replaceChildren(...draw());
      const first = view.querySelector('[data-first]') || view.querySelector('input, button');
      if (first) { first.focus(); }
    };
    state.render();
    if (document.getElementById('backdrop').hidden) {
      document.getElementById('backdrop').hidden = false;
      send({ type: 'show', nonce: call.nonce });
    }
    performance.mark('kpki-shown');
  }

  // The user has answered the view shown last: the time they took is a User Timing measure
  // (`kpki-user`, in this frame's own timeline), so a benchmark or a front-end's monitoring
  // can tell the SDK's time from the user's.
  function answered() {
    if (!performance.getEntriesByName('kpki-shown', 'mark').length) { return; }  // answered
    if (performance.getEntriesByName('kpki-user').length >= 100) {
      performance.clearMeasures('kpki-user');  // a page that signs all day keeps 100 at most
    }
    performance.measure('kpki-user', 'kpki-shown');
    performance.clearMarks('kpki-shown');
  }

  function cancelButton(call) {
    return el('button', { type: 'button', text: t('cancel'), 'data-action': 'cancel',
      on: { click: () => finish(call, false, CANCELLED) } });
  }

  // A form: resolves with its values when submitted.
  function askForm(call, title, lead, fields, submitText) {
    return new Promise((resolve) => {
      const values = {};
      showView(call, title, () => {
        const form = el('form', { on: { submit: (e) => {
          e.preventDefault();
          answered();
          fields.forEach((f) => { values[f.name] = form.elements[f.name].value.trim(); });
          resolve(values);
        } } }, el('p', { text: t(lead) }), fields.map((f) => [
          el('label', { for: `f-${f.name}`, text: t(f.label) }),
          el('input', { id: `f-${f.name}`, name: f.name, required: 'required',
            autocomplete: 'off', inputmode: f.inputmode || null, maxlength: f.max || null,
            value: values[f.name] || '' }),
        ]), el('div', { class: 'actions' }, cancelButton(call),
          el('button', { type: 'submit', class: 'primary', text: t(submitText) })));
        return [form];
      });
    });
  }

  async function ensureConnected(call) {
    if (state.connected) { return; }
    for (;;) {
      const person = await askForm(call, 'connectTitle', 'connectLead', [
        { name: 'name', label: 'name' }, { name: 'phone', label: 'phone', inputmode: 'tel' },
        { name: 'birth_date', label: 'birth', max: 10 }], 'sendCode');
      try {
        await api('connect', person, call);
      } catch (e) {
        if (e.server === 'bad_request') { notice(e.message); continue; }
        throw e;
      }
      notice('');
      for (;;) {
        const code = await askForm(call, 'connectTitle', 'codeLead',
          [{ name: 'code', label: 'code', inputmode: 'numeric', max: 2 }], 'ok');
        try {
          await api('connect/confirm', code, call);
          state.connected = true;
          remember(state.session);
          notice('');
          return;
        } catch (e) {
          if (e.server === 'code_invalid' && e.data && e.data.attempts_left > 0) {
            notice(t('wrongCode'));
            continue;
          }
          throw e;
        }
      }
    }
  }

  function describe(cert) {
    const status = cert.locked ? t('locked') : t('status')[cert.status] || cert.status;
    return `${cert.issuer} · ${t('expires')} ${cert.notAfter.slice(0, 10)} · ${status}`;
  }

  async function chooseCertificate(call, title, filter) {
    const list = (await api('certificates', {}, call)).certificates.filter(filter || (() => true));
    if (!list.length) { throw { code: 700016, message: t('noCert') }; }
    return new Promise((resolve) => {
      let chosen = list[0].certSeqNum;
      showView(call, title, () => {
        const form = el('form', { on: { submit: (e) => {
          e.preventDefault();
          answered();
          resolve(list.find((c) => c.certSeqNum === chosen));
        } } }, el('ul', { class: 'certs', role: 'radiogroup' }, list.map((cert, i) => el('li', {},
          el('label', {}, el('input', { type: 'radio', name: 'cert', value: cert.certSeqNum,
            checked: cert.certSeqNum === chosen ? 'checked' : null, 'data-first': i === 0 || null,
            on: { change: () => { chosen = cert.certSeqNum; } } }),
          el('span', {}, el('strong', { text: cert.subject }),
            el('small', { text: describe(cert) })))))),
        el('div', { class: 'actions' }, cancelButton(call),
          el('button', { type: 'submit', class: 'primary', text: t('next') })));
        return [form];
      });
    });
  }

  // The PIN pad: resolves with {pad, positions} once six keys are entered and confirmed.
  async function askPin(call, title, content, dealt) {
    const pad = await (dealt || api('pad', {}, call));
    return new Promise((resolve) => {
      const positions = [];
      const press = (i) => {
        if (positions.length < 6 && pad.keys[i] !== null) { positions.push(i); redraw(); }
      };
      const back = () => { positions.pop(); redraw(); };
      const clear = () => { positions.length = 0; redraw(); };
      const submit = () => {
        if (positions.length === 6) {
          answered();
          resolve({ pad: pad.pad, positions: positions.slice() });
        }
      };
      const redraw = () => {
        document.querySelectorAll('.dots span').forEach((dot, i) => {
          dot.className = i < positions.length ? 'on' : '';
        });
        const ok = document.querySelector('[data-action="ok"]');
        if (ok) { ok.disabled = positions.length !== 6; }
      };
      state.keys = { press: (digit) => press(pad.keys.indexOf(digit)), back: back, submit: submit,
        cancel: () => finish(call, false, CANCELLED) };
      document.addEventListener('keydown', onKey, true);
      showView(call, title, () => [
        content ? el('div', {}, el('label', { text: t('content') }),
          el('div', { class: 'content', text: content })) : '',
        el('div', { class: 'dots', role: 'img', 'aria-label': t('pinTitle') },
          [0, 1, 2, 3, 4, 5].map((i) => el('span', { class: i < positions.length ? 'on' : '' }))),
        el('div', { class: 'pad', role: 'group', 'aria-label': t('pinTitle') },
          pad.keys.map((key, i) => el('button', {
            type: 'button', class: key === null ? 'blank' : '', disabled: key === null || null,
            'data-position': String(i), 'data-first': (key !== null && i === pad.keys.indexOf('0'))
              || null, 'aria-label': key === null ? t('blank') : key,
            text: key === null ? '' : key, on: { click: () => press(i) },
          }))),
        el('div', { class: 'padrow' },
          el('button', { type: 'button', 'data-action': 'back', text: t('backspace'),
            on: { click: back } }),
          el('button', { type: 'button', 'data-action': 'clear', text: t('clear'),
            on: { click: clear } })),
        el('div', { class: 'actions' }, cancelButton(call),
          el('button', { type: 'button', class: 'primary', 'data-action': 'ok', text: t('ok'),
            disabled: positions.length !== 6 || null, on: { click: submit } })),
      ]);
    });
  }

  // Keys anywhere in the frame while a PIN pad is shown; Escape cancels any dialog.
  function onKey(event) {
    const keys = state.keys;
    if (!keys) { return; }
    if (/^[0-9]$/.test(event.key)) { keys.press(event.key); }
    else if (event.key === 'Backspace') { keys.back(); }
    else if (event.key === 'Enter') { keys.submit(); }
    else if (event.key === 'Escape') { keys.cancel(); }
    else { return; }
    event.preventDefault();
    event.stopPropagation();
  }

  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && state.current && !state.keys) {
      finish(state.current, false, CANCELLED);
    }
  });

  // Ask for a PIN and run `request(pin)` until it is not a wrong PIN.
  async function withPin(call, title, content, request, dealt) {
    let first = dealt;
    for (;;) {
      const pin = await askPin(call, title, content, first);
      first = null;
      try {
        const value = await request(pin);
        notice('');
        return value;
      } catch (e) {
        if (e.server === 'wrong_pin') {
          notice(TEXT[lang].wrongPin(e.data.attempts_left));
          continue;
        }
        throw e;
      }
    }
  }

  function newPin(call, title, request) {
    return (async () => {
      for (;;) {
        const first = await askPin(call, 'newPin');
        const again = await askPin(call, 'againPin');
        try {
          return await request(first, again);
        } catch (e) {
          if (e.server === 'pin_policy') {
            notice(e.data && e.data.rule === 'mismatch' ? t('pinMismatch') : t('pinPolicy'));
            continue;
          }
          throw e;
        }
      }
    })();
  }

  // -- the SDK's calls -----------------------------------------------------------------

  // The shape of a call's parameters as fincert.js sends them (it checks the SDK's
  // options and kpki refuses bad values); anything else was not sent by it: 700009 before
  // any dialog, so a page posting to this frame itself cannot have content shown or a PIN
  // asked for under a request that cannot be signed.
  const isText = (v) => typeof v === 'string';
  const isTexts = (v) => Array.isArray(v) && v.length > 0 && v.every(isText);
  const SIGN_PARAMS = {
    plainTexts: isTexts, encoding: isText, binaries: isTexts, type: isText,
    algorithms: isText, signType: isText, withoutContent: (v) => typeof v === 'boolean',
    generalSyntax: (v) => typeof v === 'boolean', time: (v) => typeof v === 'boolean',
    includeR: (v) => typeof v === 'boolean', ssn: (v) => v === null || isText(v),
  };
  const CHECKS = {
    sign(p) {
      return (p.plainTexts === undefined) !== (p.binaries === undefined)
        && Object.keys(p).every((k) => Object.prototype.hasOwnProperty.call(SIGN_PARAMS, k)
          && SIGN_PARAMS[k](p[k]));
    },
  };

  const METHODS = {
    async init(p, call) {
      if (p.orgCode !== ORG || typeof p.apiKey !== 'string' || typeof p.deviceId !== 'string') {
        throw { code: 700009, message: 'init was not understood' };
      }
      lang = p.lang === 'en' ? 'en' : 'ko';
      state.apiKey = p.apiKey;
      state.device = p.deviceId;
      const answer = await openSession(call);
      return { connected: answer.connected };
    },

    async checkCloudConn(p, call) {
      const answer = await api('status', {}, call);
      state.connected = answer.connected;
      return { connected: answer.connected };
    },

    async disconnectCloudConn(p, call) {
      await api('disconnect', {}, call);
      remember(null);
      state.connected = false;
      state.session = null;
      await openSession(call); // a fresh session, not connected
      return { connected: false };
    },

    async getCertInfoList(p, call) {
      await ensureConnected(call);
      return { certInfoList: (await api('certificates', {}, call)).certificates };
    },

    async sign(p, call) {
      await ensureConnected(call);
      // the pad is dealt while the user chooses the certificate
      const dealt = api('pad', {}, call);
      dealt.catch(() => null);
      const cert = await chooseCertificate(call, 'chooseCert');
      const shown = p.plainTexts ? p.plainTexts.join('\n') : `${p.binaries.length} binary`;
      return withPin(call, 'pinTitle', shown, (pin) => api('sign', {
        serial: cert.certSeqNum, pin: pin, request: p }, call), dealt);
    },

    async issue(p, call) {
      await ensureConnected(call);
      return newPin(call, 'issueTitle', (pin, again) => api('issue', {
        ssn: String(p.ssn || ''), kind: p.kind === 'business' ? 'business' : 'personal',
        pin: pin, pin_confirm: again }, call));
    },

    async renew(p, call) {
      await ensureConnected(call);
      const list = (await api('certificates', {}, call)).certificates;
      if (!list.some((c) => c.renewable && c.status === 'valid')) {
        throw { code: 700018, message: t('noRenewable') };
      }
      const cert = await chooseCertificate(call, 'renewTitle',
        (c) => c.renewable && c.status === 'valid');
      return withPin(call, 'pinTitle', '', (pin) => api('renew', {
        serial: cert.certSeqNum, pin: pin }, call));
    },

    async manage(p, call) {
      await ensureConnected(call);
      const cert = await chooseCertificate(call, 'manageTitle');
      const action = await new Promise((resolve) => {
        showView(call, 'manageTitle', () => {
          const d = t('details');
          const rows = [[d.seq, cert.certSeqNum], [d.subject, cert.subject],
            [d.issuer, cert.issuer], [d.from, cert.notBefore], [d.to, cert.notAfter],
            [d.state, cert.locked ? t('locked') : t('status')[cert.status] || cert.status]];
          return [el('dl', {}, rows.map(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })])),
            el('div', { class: 'actions' },
              el('button', { type: 'button', 'data-action': 'revoke', text: t('revoke'),
                on: { click: () => resolve('revoke') } }),
              el('button', { type: 'button', 'data-action': 'pin', text: t('changePin'),
                on: { click: () => resolve('pin') } }),
              el('button', { type: 'button', class: 'primary', 'data-action': 'close',
                'data-first': true, text: t('close'), on: { click: () => resolve('close') } }))];
        });
      });
      if (action === 'close') { return { action: 'closed', certSeqNum: cert.certSeqNum }; }
      if (action === 'revoke') {
        notice(t('revokeAsk'));
        await withPin(call, 'revoke', '', (pin) => api('revoke', {
          serial: cert.certSeqNum, pin: pin }, call));
        return { action: 'revoked', certSeqNum: cert.certSeqNum };
      }
      for (;;) {
        const old = await askPin(call, 'oldPin');
        const first = await askPin(call, 'newPin');
        const again = await askPin(call, 'againPin');
        try {
          await api('pin', { serial: cert.certSeqNum, old_pin: old, new_pin: first,
            new_pin_confirm: again }, call);
          notice('');
          return { action: 'pinChanged', certSeqNum: cert.certSeqNum };
        } catch (e) {
          if (e.server === 'wrong_pin') {
            notice(TEXT[lang].wrongPin(e.data.attempts_left));
          } else if (e.server === 'pin_policy') {
            notice(e.data && e.data.rule === 'mismatch' ? t('pinMismatch') : t('pinPolicy'));
          } else {
            throw e;
          }
        }
      }
    },
  };

  // The frame is shown (and focused by fincert.js) after its first view is drawn, when
  // nothing in it could take the focus yet: give it to the view's first control then.
  window.addEventListener('focus', () => {
    const view = document.getElementById('view');
    if (!view.contains(document.activeElement)) {
      const first = view.querySelector('[data-first]') || view.querySelector('input, button');
      if (first) { first.focus(); }
    }
  });

  document.getElementById('lang').addEventListener('click', () => {
    lang = lang === 'ko' ? 'en' : 'ko';
    if (state.render) { state.render(); }
  });
  document.getElementById('close').addEventListener('click', () => {
    if (state.current) { finish(state.current, false, CANCELLED); }
  });

  if (PARENT && window.parent !== window) {
    send({ type: 'ready' });
  }
}());
