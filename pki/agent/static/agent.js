/* kpki signing agent: the script a page loads from the agent on 127.0.0.1.

   <script src="http://127.0.0.1:PORT/agent/v1/agent.js"></script>

   KpkiAgent.ping()          -> Promise<{version}>
   KpkiAgent.sign(options)   -> Promise<{signature, signatures, certificate, r?, enveloped}>
     options: {content: {text | texts: [...], encoding: 'UTF-8' | 'EUC-KR'} | {base64},
               attached?: bool (true), includeR?: bool, algorithm?: 'pkcs1' | 'pss',
               envelopeTo?: PEM, purpose?: string}
   Call sign() from a click handler: it opens the agent's certificate dialog as a popup.
   Both reject with {code, message}; the codes are listed in kpki's docs/agent.md. */
(() => {
  'use strict';

  const script = document.currentScript;
  const BASE = new URL(script.src).origin;
  const API = BASE + '/agent/v1';
  const WAIT_SECONDS = 20;
  const WATCH_MS = 250;
  let open = false;

  function fail(code, message) {
    return Object.freeze({code, message});
  }

  async function unreachable() {
    // A refused origin gets no CORS header, so its fetch fails like a stopped agent's.
    // An opaque request tells the two apart without reading anything.
    try {
      await fetch(API + '/ping', {mode: 'no-cors', cache: 'no-store', credentials: 'omit'});
      return fail('origin_not_allowed', 'the signing agent does not serve this page\'s origin');
    } catch (e) {
      return fail('agent_unavailable', 'the signing agent is not running at ' + BASE);
    }
  }

  async function call(path, body) {
    const init = {cache: 'no-store', credentials: 'omit'};
    if (body !== undefined) {
      init.method = 'POST';
      init.headers = {'Content-Type': 'application/json'};
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(API + path, init);
    } catch (e) {
      throw await unreachable();
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const error = data && data.error;
      throw error ? fail(error.code, error.message)
                  : fail('agent_error', 'the signing agent answered HTTP ' + response.status);
    }
    return data;
  }

  function requestOf(options) {
    if (!options || typeof options !== 'object') {
      throw fail('bad_request', 'sign() takes an options object');
    }
    const body = {content: options.content};
    if (options.attached !== undefined) body.attached = options.attached;
    if (options.includeR !== undefined) body.includeR = options.includeR;
    if (options.algorithm !== undefined) body.algorithm = options.algorithm;
    if (options.envelopeTo !== undefined && options.envelopeTo !== null) {
      body.envelopeTo = options.envelopeTo;
    }
    if (options.purpose !== undefined) body.purpose = options.purpose;
    return body;
  }

  function resultOf(outcome) {
    const result = {signature: outcome.signature, signatures: outcome.signatures,
                    certificate: outcome.certificate, enveloped: outcome.enveloped};
    if (outcome.r !== undefined) result.r = outcome.r;
    return result;
  }

  async function watch(created, popup) {
    const where = '/requests/' + encodeURIComponent(created.request);
    let withdrawn = false;
    const timer = setInterval(() => {
      if (popup.closed && !withdrawn) {
        withdrawn = true;  // the window closed: the user gave no answer
        call(where + '/cancel', {token: created.token}).catch(() => null);
      }
    }, WATCH_MS);
    try {
      for (;;) {
        const outcome = await call(where + '/outcome',
                                   {token: created.token, wait: WAIT_SECONDS});
        if (outcome.state === 'signed') return resultOf(outcome);
        if (outcome.state === 'cancelled') {
          throw fail('cancelled', 'the user cancelled the signature');
        }
        if (outcome.state === 'expired') {
          throw fail('expired', 'the signature request expired unanswered');
        }
      }
    } finally {
      clearInterval(timer);
      if (!popup.closed) popup.close();
    }
  }

  async function run(body, popup) {
    if (!popup) throw fail('popup_blocked', 'the certificate dialog could not open: allow ' +
                           'pop-ups for this site and call sign() from a click');
    let created;
    try {
      created = await call('/requests', body);
    } catch (e) {
      popup.close();
      throw e;
    }
    popup.location.href = BASE + created.dialog;
    return watch(created, popup);
  }

  function sign(options) {
    if (open) {
      return Promise.reject(fail('busy', 'a signature is already being asked for'));
    }
    let body;
    try {
      body = requestOf(options);
    } catch (e) {
      return Promise.reject(e);
    }
    open = true;
    // Opened now, inside the click, or the browser blocks it; the dialog loads once the
    // agent has the request.
    const name = 'kpki-agent-' + Date.now() + '-' + Math.floor(Math.random() * 1e9);
    const popup = window.open('', name, 'popup,width=560,height=760');
    return run(body, popup).finally(() => { open = false; });
  }

  function ping() {
    return call('/ping');
  }

  window.KpkiAgent = Object.freeze({sign, ping, base: BASE});
})();
