/* The agent's certificate-selection dialog. Its request id and token come in the URL
   fragment (never sent to a server); everything it posts goes to the agent's own origin. */
(() => {
  'use strict';

  const API = '/agent/v1/dialog/';
  const $ = (id) => document.getElementById(id);
  const [requestId, token] = location.hash.slice(1).split('.');
  history.replaceState(null, '', location.pathname);
  window.opener = null;

  let view = null;
  let location_ = 0;
  let chosen = null;
  let finished = false;

  async function post(action, body) {
    const response = await fetch(API + encodeURIComponent(requestId || '') + '/' + action, {
      method: 'POST', cache: 'no-store', credentials: 'omit',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({token: token || '', ...body}),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const error = (data && data.error) || {code: 'agent_error', message: 'HTTP ' + response.status};
      throw error;
    }
    return data;
  }

  function say(text, kind) {
    const message = $('message');
    message.textContent = text;
    message.className = kind || '';
  }

  function end(text) {
    finished = true;
    say(text, 'error');
    for (const id of ['ok', 'password', 'view']) $(id).disabled = true;
    $('cancel').textContent = '닫기';
  }

  const REFUSALS = {
    expired: '서명 요청의 유효시간이 지났습니다. 사이트에서 다시 요청하세요.',
    already_answered: '이미 처리된 서명 요청입니다.',
    unknown_request: '서명 요청을 찾을 수 없습니다.',
    in_progress: '서명 중입니다. 잠시 기다리세요.',
    key_unreadable: '인증서 파일을 읽을 수 없습니다. 다른 인증서를 선택하세요.',
    no_r: '이 인증서 파일에는 본인확인용 정보(R)가 없습니다.',
    certificate_unusable: '사용할 수 없는 인증서입니다. 유효한 인증서를 선택하세요.',
  };

  function refused(error) {
    if (error.code === 'wrong_password') {
      const lock = error.countedByFile ? '' :
        ' 이 인증서 파일은 오류 횟수를 기록하지 않으므로 잠기지 않습니다.';
      say('인증서 암호가 올바르지 않습니다. (' + error.attempts + '회 오류)' + lock, 'error');
      if (view && chosen !== null) view.certificates[chosen].attempts = error.attempts;
      $('password').value = '';
      $('password').focus();
      return;
    }
    const text = REFUSALS[error.code] || (error.message || '서명할 수 없습니다.');
    if (['expired', 'already_answered', 'unknown_request'].includes(error.code)) end(text);
    else say(text, 'error');
  }

  function cell(row, text) {
    const td = document.createElement('td');
    td.textContent = text;
    row.appendChild(td);
  }

  function choose(index) {
    chosen = index;
    for (const row of document.querySelectorAll('#certificates tbody tr')) {
      const selected = Number(row.dataset.index) === index;
      row.classList.toggle('selected', selected);
      row.setAttribute('aria-selected', String(selected));
    }
    $('view').disabled = false;
    $('password').disabled = false;
    $('ok').disabled = false;
    say('');
    $('password').focus();
  }

  function renderCertificates() {
    const body = document.querySelector('#certificates tbody');
    body.textContent = '';
    const here = view.certificates.filter((c) => c.location === location_);
    for (const cert of here) {
      const row = document.createElement('tr');
      row.dataset.index = String(cert.index);
      row.tabIndex = 0;
      row.setAttribute('role', 'option');
      cell(row, cert.kind);
      cell(row, cert.holder);
      cell(row, cert.expires + (cert.usable ? '' : ' (' + cert.statusLabel + ')'));
      cell(row, cert.issuer);
      if (cert.usable) {
        row.addEventListener('click', () => choose(cert.index));
        row.addEventListener('keydown', (e) => {
          if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); choose(cert.index); }
        });
      } else {
        row.classList.add('unusable');
        row.setAttribute('aria-disabled', 'true');
      }
      body.appendChild(row);
    }
    $('empty').hidden = here.length > 0;
    chosen = null;
    $('view').disabled = true;
    $('ok').disabled = true;
    $('password').disabled = true;
    const first = here.find((c) => c.usable);
    if (first) choose(first.index);
  }

  function renderLocations() {
    const box = $('locations');
    box.textContent = '';
    for (const place of view.locations) {
      const button = document.createElement('button');
      button.type = 'button';
      button.setAttribute('role', 'tab');
      button.dataset.kind = place.kind;
      button.dataset.index = String(place.index);
      button.title = place.path;
      button.textContent = place.label + ' (' + place.count + ')';
      button.setAttribute('aria-selected', String(place.index === location_));
      button.addEventListener('click', () => {
        location_ = place.index;
        renderLocations();
        renderCertificates();
      });
      box.appendChild(button);
    }
  }

  function showDetails() {
    if (chosen === null) return;
    const d = view.certificates[chosen].details;
    $('d-subject').textContent = d.subject;
    $('d-issuer').textContent = d.issuer;
    $('d-serial').textContent = d.serial + ' (0x' + d.serialHex + ')';
    $('d-validity').textContent = d.notBefore + ' ~ ' + d.notAfter + ' (KST)';
    $('d-policy').textContent = d.policyLabel + ' (' + (d.policy || '-') + ')';
    $('details').hidden = false;
  }

  async function confirm(event) {
    event.preventDefault();
    if (finished || chosen === null) return;
    const password = $('password').value;
    if (!password) {
      say('인증서 암호를 입력하세요.', 'error');
      return;
    }
    $('ok').disabled = true;
    say('서명 중입니다...');
    try {
      await post('confirm', {certificate: chosen, password});
    } catch (error) {
      $('ok').disabled = finished;
      refused(error);
      return;
    }
    $('password').value = '';
    finished = true;
    say('서명했습니다.', 'done');
    window.close();
  }

  async function cancel() {
    if (!finished) {
      finished = true;
      try {
        await post('cancel', {});
      } catch (error) {
        // answered already or expired: nothing left to cancel
      }
    }
    window.close();
  }

  // Characters that show as nothing or reorder what follows (controls but tab and line
  // breaks, format characters such as the bidirectional overrides and zero-width ones,
  // separators, surrogates, private use): shown as their code point instead.
  const UNSHOWN = /[^\P{Cc}\t\n\r]|[\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}]/u;

  function codePoint(char) {
    return '⟨U+' + char.codePointAt(0).toString(16).toUpperCase().padStart(4, '0') + '⟩';
  }

  // ``text`` into ``box`` as text nodes, each unshown character as a marked code point;
  // how many there were.
  function showText(box, text) {
    box.textContent = '';
    let run = '';
    let hidden = 0;
    for (const char of text) {
      if (!UNSHOWN.test(char)) {
        run += char;
        continue;
      }
      hidden += 1;
      box.append(run);
      run = '';
      const mark = document.createElement('span');
      mark.className = 'unshown';
      mark.textContent = codePoint(char);
      box.append(mark);
    }
    box.append(run);
    return hidden;
  }

  // Everything the site sent is shown as text (textContent), never read as HTML.
  function showRequest() {
    $('origin').textContent = view.origin;
    if (view.purpose) {
      $('purpose').textContent = view.purpose;
    } else {
      $('purpose').replaceWith(document.createTextNode('(밝히지 않음)'));
    }
    const several = view.contents.length > 1;
    if (several) {
      $('content-title').textContent = '서명할 내용 (' + view.contents.length +
        '건, 한 번의 확인으로 각각 서명)';
    }
    let hidden = 0;
    const box = $('contents');
    box.textContent = '';
    view.contents.forEach((content, n) => {
      const item = document.createElement('div');
      item.className = 'content-item';
      const meta = document.createElement('p');
      meta.className = 'content-meta note';
      const size = content.bytes + '바이트';
      meta.textContent = (several ? '[' + (n + 1) + '/' + view.contents.length + '] ' : '') +
        (content.text === null
          ? '이진 데이터 · ' + size + ' · 내용 대신 크기와 SHA-256 해시를 보여 줍니다.'
          : content.encoding + ' 텍스트 · ' + size);
      item.append(meta);
      if (content.text !== null) {
        const text = document.createElement('pre');
        text.className = 'content-text';
        text.tabIndex = 0;
        hidden += showText(text, content.text);
        item.append(text);
      }
      const hash = document.createElement('p');
      hash.className = 'content-hash';
      const label = document.createElement('span');
      label.textContent = 'SHA-256 ';
      const digest = document.createElement('code');
      digest.className = 'content-sha256';
      digest.textContent = content.sha256;
      hash.append(label, digest);
      item.append(hash);
      box.append(item);
    });
    if (hidden > 0) {
      $('content-warning').textContent = '화면에 보이지 않거나 글자 순서를 바꾸는 문자 ' +
        hidden + '개가 있어 ⟨U+코드⟩로 표시했습니다. 서명되는 것은 원래 문자입니다.';
      $('content-warning').hidden = false;
    }
  }

  async function load() {
    try {
      view = await post('view', {});
    } catch (error) {
      refused(error);
      end(REFUSALS[error.code] || error.message);
      return;
    }
    showRequest();
    const withCertificates = view.locations.find((p) => p.count > 0);
    location_ = withCertificates ? withCertificates.index : 0;
    renderLocations();
    renderCertificates();
    document.body.dataset.ready = 'true';
  }

  $('form').addEventListener('submit', confirm);
  $('cancel').addEventListener('click', cancel);
  $('view').addEventListener('click', showDetails);
  $('details-close').addEventListener('click', () => { $('details').hidden = true; });
  window.addEventListener('pagehide', () => {
    if (finished) return;
    fetch(API + encodeURIComponent(requestId || '') + '/cancel', {
      method: 'POST', keepalive: true, credentials: 'omit',
      headers: {'Content-Type': 'application/json'}, body: JSON.stringify({token: token || ''}),
    }).catch(() => null);
  });
  load();
})();
