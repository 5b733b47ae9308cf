/*
 * kpki's financial-certificate SDK for the browser: FinCert.Sdk.
 *
 * Load it from kpki (<script src="http://127.0.0.1:8880/sdk/v1/fincert.js">) instead of the
 * issuer's script to run a front-end's tests against kpki. It puts an iframe from kpki's
 * origin over the page (certificate list, PIN pad, cloud connection) and talks to it with
 * postMessage only: every call carries a fresh nonce, and a message is read only when it
 * comes from that iframe's window and kpki's origin, carrying the nonce of the call that is
 * open. The PIN never enters this page; the page only receives results.
 *
 * Every entry point returns a Promise and also calls opts.success / opts.fail when given.
 * Errors are {code, message}: 800000 user cancelled, 100008 SDK already running, 900001
 * unsupported browser, and kpki's own 7000xx codes (docs/browser.md lists them).
 */
(function () {
  'use strict';
  if (window.FinCert && window.FinCert.Sdk) {
    return;
  }
  const script = document.currentScript;
  const KPKI = script ? new URL(script.src).origin : null;
  const BASE = script ? new URL('.', script.src).href : null;
  const TAG = 'fincert';
  const ENCODINGS = ['UTF-8', 'EUC-KR'];
  const FORMATS = ['CMS', 'PKCS1'];
  const ALGORITHMS = ['RSASSA-PKCS1-v1_5_SHA256', 'RSASSA-PSS_SHA256_MGF1_SHA256'];
  const SIGN_TYPES = ['01', '02', '03', '04', '05', '06', '07', '08', '99'];
  const MESSAGES = {
    800000: 'The user cancelled.',
    100008: 'The SDK is already running: wait for the open call to end.',
    900001: 'This browser is not supported.',
    700001: 'The SDK is not initialised: call FinCert.Sdk.init first.',
    700002: 'This page\'s origin may not use this organisation code.',
    700003: 'Unknown organisation code or SDK key.',
    700004: 'An option is not valid.',
    700005: 'Unknown content encoding: UTF-8 or EUC-KR.',
    700011: 'The page aborted the call.',
    700015: 'kpki cannot be reached.',
  };

  const state = {
    config: null, // the init options, once init succeeded
    frame: null,
    frameReady: null, // a Promise resolved when the iframe says it is ready
    running: null, // {nonce, resolve, reject} of the open call
    initialising: false, // init is asking kpki whether this origin may use the code
  };

  function error(code, message, extra) {
    return Object.assign({ code: code, message: message || MESSAGES[code] || 'refused' },
      extra || {});
  }

  function supported() {
    return typeof window.Promise === 'function' && typeof window.postMessage === 'function'
      && typeof window.URL === 'function' && typeof window.fetch === 'function'
      && !!window.crypto && typeof window.crypto.getRandomValues === 'function';
  }

  function newNonce() {
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function deviceId() {
    const name = 'kpki.fincert.device';
    try {
      let id = window.localStorage.getItem(name);
      if (!id) {
        id = 'web-' + newNonce();
        window.localStorage.setItem(name, id);
      }
      return id;
    } catch (e) {
      return 'web-' + newNonce(); // no storage: a device for this page only
    }
  }

  // Settle `promise` into the caller's callbacks too; return it.
  function withCallbacks(promise, opts) {
    const o = opts || {};
    promise.then((value) => {
      if (typeof o.success === 'function') { o.success(value); }
    }, (err) => {
      if (typeof o.fail === 'function') { o.fail(err); }
    });
    return promise;
  }

  function post(message) {
    state.frame.contentWindow.postMessage(Object.assign({ kpki: TAG, v: 1 }, message), KPKI);
  }

  function show(visible) {
    if (!state.frame) { return; }
    state.frame.style.display = visible ? 'block' : 'none';
    if (visible) { state.frame.focus(); }
  }

  window.addEventListener('message', (event) => {
    // Only kpki's iframe, from kpki's origin, and only the open call's nonce.
    if (!state.frame || event.source !== state.frame.contentWindow || event.origin !== KPKI) {
      return;
    }
    const m = event.data;
    if (!m || typeof m !== 'object' || m.kpki !== TAG) { return; }
    if (m.type === 'ready') {
      if (state.onReady) { state.onReady(); }
      return;
    }
    const open = state.running;
    if (!open || m.nonce !== open.nonce) { return; }
    if (m.type === 'show' || m.type === 'hide') {
      show(m.type === 'show');
    } else if (m.type === 'result') {
      state.running = null;
      show(false);
      if (m.ok) {
        open.resolve(m.value);
      } else {
        const e = m.error && typeof m.error === 'object' ? m.error : {};
        open.reject(error(Number(e.code) || 700014, String(e.message || ''),
          e.detail ? { detail: String(e.detail) } : undefined));
      }
    }
  });

  function loadFrame(config) {
    if (state.frame) {
      state.frame.remove();
    }
    const frame = document.createElement('iframe');
    const src = new URL('frame', BASE);
    src.searchParams.set('org', config.orgCode);
    src.searchParams.set('origin', window.location.origin);
    src.searchParams.set('lang', config.lang);
    frame.src = src.href;
    frame.title = config.lang === 'en' ? 'Financial certificate' : '금융인증서';
    frame.setAttribute('data-kpki', 'fincert');
    frame.setAttribute('allow', '');
    Object.assign(frame.style, {
      position: 'fixed', inset: '0', width: '100%', height: '100%', border: '0',
      zIndex: '2147483647', display: 'none', background: 'transparent',
    });
    state.frame = frame;
    state.frameReady = new Promise((resolve, reject) => {
      const late = window.setTimeout(() => reject(error(700015)), 20000);
      state.onReady = () => {
        window.clearTimeout(late);
        resolve();
      };
    });
    document.body.appendChild(frame);
    return state.frameReady;
  }

  // Ask kpki whether this page's origin may use the organisation code (the browser names
  // the origin): the frame is not even shown to other origins, so say why at once.
  function checkOrigin(config) {
    const url = new URL('origin', BASE);
    url.searchParams.set('org', config.orgCode);
    return fetch(url.href, { mode: 'cors', credentials: 'omit', cache: 'no-store' })
      .then((response) => response.json(), () => { throw error(700015); })
      .then((answer) => {
        if (!answer || !answer.known) { throw error(700003); }
        if (!answer.allowed) { throw error(700002); }
      }, (e) => { throw (e && e.code ? e : error(700015)); });
  }

  // One call to the iframe; 100008 while another is open.
  function call(method, params, needsInit) {
    if (!supported()) { return Promise.reject(error(900001)); }
    if (state.running) { return Promise.reject(error(100008)); }
    if (needsInit && !state.config) { return Promise.reject(error(700001)); }
    const nonce = newNonce();
    return new Promise((resolve, reject) => {
      state.running = { nonce: nonce, resolve: resolve, reject: reject };
      state.frameReady.then(() => {
        if (state.running && state.running.nonce === nonce) {
          post({ type: 'call', nonce: nonce, method: method, params: params || {} });
        }
      }, (e) => {
        state.running = null;
        reject(e);
      });
    });
  }

  function checkSign(opts) {
    const o = opts || {};
    const format = o.signFormat || {};
    const type = format.type || 'CMS';
    if (FORMATS.indexOf(type) < 0) { return error(700004, 'signFormat.type is CMS or PKCS1'); }
    const info = format.CMSInfo || {};
    const content = o.content || {};
    let body;
    if (content.plainText) {
      const texts = content.plainText.plainTexts;
      const encoding = content.plainText.encoding || 'UTF-8';
      if (!Array.isArray(texts) || !texts.length || texts.some((t) => typeof t !== 'string')) {
        return error(700004, 'content.plainText.plainTexts is a list of texts');
      }
      if (ENCODINGS.indexOf(encoding) < 0) {
        return error(700005, 'unknown encoding ' + String(encoding) + ': UTF-8 or EUC-KR');
      }
      body = { plainTexts: texts, encoding: encoding };
    } else if (content.binary) {
      const binaries = content.binary.binaries;
      if (!Array.isArray(binaries) || !binaries.length
          || binaries.some((b) => typeof b !== 'string')) {
        return error(700004, 'content.binary.binaries is a list of base64 texts');
      }
      body = { binaries: binaries };
    } else {
      return error(700004, 'content is plainText or binary');
    }
    const algorithms = o.algorithms || ALGORITHMS[0];
    if (ALGORITHMS.indexOf(algorithms) < 0) {
      return error(700004, 'algorithms is ' + ALGORITHMS.join(' or '));
    }
    const signType = (o.info && o.info.signType) || '99';
    if (SIGN_TYPES.indexOf(signType) < 0) {
      return error(700004, 'info.signType is one of ' + SIGN_TYPES.join(', '));
    }
    return Object.assign(body, {
      type: type, algorithms: algorithms, signType: signType,
      withoutContent: !!info.withoutContent,
      generalSyntax: info.generalSyntax === undefined ? true : !!info.generalSyntax,
      time: info.time === undefined ? true : !!info.time,
      includeR: !!info.includeR,
      ssn: info.ssn ? String(info.ssn) : null,
    });
  }

  const Sdk = {
    init(opts) {
      const o = opts || {};
      let refusal = null;
      if (!supported() || !KPKI) {
        refusal = error(900001);
      } else if (state.running || state.initialising) {
        refusal = error(100008);
      } else if (typeof o.orgCode !== 'string' || !/^[DR][0-9]{4,15}$/.test(o.orgCode)) {
        refusal = error(700003, 'orgCode is D (test) or R (production) and digits');
      } else if (typeof o.apiKey !== 'string' || !o.apiKey) {
        refusal = error(700003, 'apiKey is the SDK key of the organisation');
      } else if (o.clientOrigin !== window.location.origin) {
        refusal = error(700002, 'clientOrigin must be this page\'s origin ('
          + window.location.origin + ')');
      } else if (o.lang !== undefined && o.lang !== 'ko' && o.lang !== 'en') {
        refusal = error(700004, 'lang is ko or en');
      }
      if (refusal) {
        return withCallbacks(Promise.reject(refusal), o);
      }
      const config = {
        orgCode: o.orgCode, apiKey: o.apiKey, clientOrigin: o.clientOrigin,
        deviceId: typeof o.deviceId === 'string' && o.deviceId ? o.deviceId : deviceId(),
        lang: o.lang || 'ko',
      };
      state.config = null;
      state.initialising = true;
      const done = checkOrigin(config).then(() => {
        loadFrame(config);
        state.initialising = false;
        return call('init', {
          orgCode: config.orgCode, apiKey: config.apiKey, deviceId: config.deviceId,
          lang: config.lang,
        }, false);
      }, (e) => {
        state.initialising = false;
        throw e;
      }).then((value) => {
        state.config = config;
        return value;
      });
      return withCallbacks(done, o);
    },

    sign(opts) {
      const checked = checkSign(opts);
      if (checked.code) {
        return withCallbacks(Promise.reject(checked), opts);
      }
      return withCallbacks(call('sign', checked, true), opts);
    },

    issue(opts) {
      const o = opts || {};
      return withCallbacks(call('issue', { ssn: o.ssn ? String(o.ssn) : '',
        kind: o.kind === 'business' ? 'business' : 'personal' }, true), o);
    },

    renew(opts) {
      return withCallbacks(call('renew', {}, true), opts);
    },

    manage(opts) {
      return withCallbacks(call('manage', {}, true), opts);
    },

    getCertInfoList(opts) {
      return withCallbacks(call('getCertInfoList', {}, true), opts);
    },

    checkCloudConn(opts) {
      return withCallbacks(call('checkCloudConn', {}, true), opts);
    },

    disconnectCloudConn(opts) {
      return withCallbacks(call('disconnectCloudConn', {}, true), opts);
    },

    abort(opts) {
      const open = state.running;
      if (open) {
        state.running = null;
        post({ type: 'abort', nonce: open.nonce });
        show(false);
        open.reject(error(700011));
      }
      return withCallbacks(Promise.resolve({ aborted: !!open }), opts);
    },
  };

  window.FinCert = Object.assign(window.FinCert || {}, { Sdk: Object.freeze(Sdk) });
}());
