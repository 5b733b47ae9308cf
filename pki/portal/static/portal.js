// The portal demo's pages: plain ES2020, no build step, nothing fetched from elsewhere than
// the portal, kpki serve (the SDK) and the local agent. window.PORTAL comes from /config.js.
"use strict";

const CONFIG = window.PORTAL || {};

const METHODS = { agent: "공동인증서 (에이전트)", sdk: "금융인증서 (SDK)", simpleauth: "간편인증" };
const VERDICTS = {
  "valid": "유효한 서명",
  "valid-before-revocation": "유효한 서명 (인증서 폐지 전에 서명됨)",
  "invalid": "무효한 서명",
};
const OUTCOMES = { passed: "통과", failed: "실패", skipped: "생략" };
const CHECKS = {
  "content": "서명 대상 문서",
  "signer-certificate": "서명자 인증서",
  "signature": "전자서명",
  "time-stamp": "시점확인 (TSA)",
  "chain": "인증 경로",
  "validity": "유효기간",
  "key-usage": "키 용도",
  "revocation": "폐지 여부",
  "policy": "인증서 정책",
  "vid": "본인확인 (VID)",
  "approval": "간편인증 승인과 민원의 연결",
  "identity": "간편인증 본인확인",
};

function $(selector) { return document.querySelector(selector); }

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  }
  return node;
}

async function api(method, path, body) {
  const options = { method, headers: { accept: "application/json" } };
  if (body !== undefined) {
    options.headers["content-type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const answer = await fetch(path, options);
  let data = null;
  try { data = await answer.json(); } catch (e) { data = null; }
  if (!answer.ok) {
    const error = (data && data.error) || { code: "http_" + answer.status, message: answer.statusText };
    throw Object.assign(new Error(error.message), error, { status: answer.status });
  }
  return data;
}

function say(text, isError = false) {
  const box = $("#status");
  if (!box) return;
  box.hidden = false;
  box.textContent = text;
  box.classList.toggle("error", isError);
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = el("script", { src });
    script.onload = () => resolve();
    script.onerror = () => reject(new Error("cannot load " + src));
    document.head.append(script);
  });
}

function shownTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString("ko-KR", { timeZone: "Asia/Seoul" });
}

// -- the start page -------------------------------------------------------------------------

function startPage() {
  const body = $("#person tbody");
  const person = CONFIG.person;
  const rows = [];
  if (person) {
    rows.push(["성명", person.name], ["주민등록번호", person.rrn], ["휴대폰", person.phone]);
  }
  for (const [label, value] of CONFIG.credentials || []) rows.push([label, value]);
  for (const [label, value] of rows) body.append(el("tr", {}, el("th", {}, label), el("td", { class: "mono" }, value)));
}

// -- the petition ---------------------------------------------------------------------------

function petitionFields() {
  return {
    text: $("#text").value,
    encoding: $("#encoding").value,
    rrn: $("#rrn").value.trim(),
    name: $("#name").value.trim(),
    phone: $("#phone").value.trim(),
  };
}

async function file(method, signature, r) {
  const fields = petitionFields();
  const filed = await api("POST", "/api/petitions", {
    text: fields.text, encoding: fields.encoding, rrn: fields.rrn, method, signature,
    r: r || null,
  });
  location.href = "/result.html?id=" + encodeURIComponent(filed.id);
}

function failed(error) {
  say(`서명하지 못했습니다: ${error.message || error} (${error.code || "error"})`, true);
}

function signWithAgent() {
  const fields = petitionFields();
  say("공동인증서 선택 창에서 인증서를 고르고 암호를 입력하세요…");
  // Called straight from the click: the agent opens its dialog as a popup.
  window.KpkiAgent.sign({
    content: { text: fields.text, encoding: fields.encoding },
    attached: true, includeR: true, purpose: "민원 신청서 서명 (정부24 데모 포털)",
  }).then((signed) => file("agent", signed.signature, signed.r)).catch(failed);
}

function signWithSdk() {
  const fields = petitionFields();
  say("금융인증서 창에서 인증서를 고르고 PIN을 입력하세요…");
  window.FinCert.Sdk.sign({
    signFormat: { type: "CMS", CMSInfo: { includeR: true, time: true } },
    content: { plainText: { plainTexts: [fields.text], encoding: fields.encoding } },
    algorithms: "RSASSA-PKCS1-v1_5_SHA256",
    info: { signType: "99" },
  }).then((signed) => file("sdk", signed.signedVals[0], signed.rValue)).catch(failed);
}

async function signWithSimpleAuth() {
  const fields = petitionFields();
  let asked;
  try {
    asked = await api("POST", "/api/simpleauth", fields);
  } catch (error) { failed(error); return; }
  const box = $("#status");
  say("간편인증 앱에서 요청을 승인해 주세요. ");
  box.append(el("a", { href: "/phone.html", target: "_blank", id: "open-phone" }, "데모 휴대폰 열기"));
  const poll = async () => {
    try {
      const state = await api("GET", "/api/simpleauth/" + encodeURIComponent(asked.request_id));
      if (state.status === "filed") {
        location.href = "/result.html?id=" + encodeURIComponent(state.petition);
        return;
      }
      if (state.status !== "pending") {
        say(`간편인증이 끝났습니다: ${state.status}${state.reason ? " (" + state.reason + ")" : ""}`, true);
        return;
      }
    } catch (error) { failed(error); return; }
    setTimeout(poll, 1000);
  };
  setTimeout(poll, 1000);
}

async function petitionPage() {
  const person = CONFIG.person;
  if (person) {
    $("#name").value = person.name;
    $("#rrn").value = person.rrn;
    $("#phone").value = person.phone;
  }
  $("#sign-simpleauth").addEventListener("click", signWithSimpleAuth);
  const notes = [];
  if (CONFIG.agent) {
    loadScript(CONFIG.agent + "/agent/v1/agent.js").then(() => {
      $("#sign-agent").disabled = false;
      $("#sign-agent").addEventListener("click", signWithAgent);
    }).catch(() => { $("#availability").textContent += " 로컬 서명 에이전트에 연결할 수 없습니다."; });
  } else notes.push("이 데모에는 로컬 서명 에이전트가 없습니다.");
  if (CONFIG.sdk) {
    loadScript(CONFIG.kpki + "/sdk/v1/fincert.js").then(() => window.FinCert.Sdk.init({
      orgCode: CONFIG.sdk.orgCode, apiKey: CONFIG.sdk.apiKey, clientOrigin: location.origin,
      lang: "ko",
    })).then(() => {
      $("#sign-sdk").disabled = false;
      $("#sign-sdk").addEventListener("click", signWithSdk);
    }).catch(() => { $("#availability").textContent += " 금융인증서 SDK를 불러올 수 없습니다."; });
  } else notes.push("이 데모에는 금융인증서 SDK가 없습니다.");
  $("#availability").textContent = notes.join(" ");
}

// -- the result -----------------------------------------------------------------------------

function checkRow(check) {
  return el("tr", { "data-check": check.check, "data-outcome": check.outcome },
    el("td", {}, CHECKS[check.check] || check.check),
    el("td", { class: check.outcome }, OUTCOMES[check.outcome] || check.outcome),
    el("td", { class: "detail" }, check.detail));
}

async function resultPage() {
  const id = new URLSearchParams(location.search).get("id") || "";
  const show = async () => {
    let found;
    try {
      found = await api("GET", "/api/petitions/" + encodeURIComponent(id));
    } catch (error) {
      $("#verdict").textContent = `민원을 찾을 수 없습니다 (${error.code})`;
      $("#verdict").className = "verdict invalid";
      return;
    }
    const verdict = $("#verdict");
    verdict.textContent = VERDICTS[found.verdict] || found.verdict;
    verdict.className = "verdict " + found.verdict;
    verdict.dataset.verdict = found.verdict;
    $("#summary").textContent = found.summary;
    const petition = $("#petition tbody");
    petition.replaceChildren(
      el("tr", {}, el("th", {}, "접수 번호"), el("td", { class: "mono", id: "petition-id" }, found.id)),
      el("tr", {}, el("th", {}, "접수 시각"), el("td", {}, shownTime(found.received_at))),
      el("tr", {}, el("th", {}, "서명 방법"), el("td", {}, METHODS[found.method] || found.method)),
      el("tr", {}, el("th", {}, "인코딩"), el("td", {}, found.encoding)),
      el("tr", {}, el("th", {}, "내용"), el("td", {}, found.text)));
    const before = found.signed_before_revocation;  // the verifier's field, not its notes
    if (before) {
      petition.append(el("tr", {}, el("th", {}, "인증서 폐지"),
        el("td", { id: "revoked-after-signing", "data-revoked-at": before.revoked_at },
          `${shownTime(before.revoked_at)} (${before.reason || "사유 없음"}, 일련번호 ${before.serial}` +
          `${before.ca ? ", CA 인증서" : ""}): 서명은 그 전에 ` +
          (before.signing_time_source === "trusted" ? "시점확인으로 확인됨" : "서명자가 밝힌 시각에") + " 이루어졌습니다")));
    }
    const checks = found.verification ? found.verification.checks : [];
    $("#checks tbody").replaceChildren(...checks.map(checkRow));
    $("#portal-checks-box").hidden = found.portal_checks.length === 0;
    $("#portal-checks tbody").replaceChildren(...found.portal_checks.map(checkRow));
    const notes = found.verification ? found.verification.notes : [];
    $("#notes").replaceChildren(...notes.map((n) => el("li", {}, n)));
    document.body.dataset.loaded = found.verdict;
  };
  $("#recheck").addEventListener("click", () => { document.body.dataset.loaded = ""; show(); });
  await show();
}

// -- the operator ---------------------------------------------------------------------------

async function operatorPage() {
  // Listing and revoking need the operator's session (an HttpOnly cookie the login sets):
  // without one the page asks for the secret kpki demo web printed.
  const loggedIn = (yes) => {
    $("#login").hidden = yes;
    $("#operator").hidden = !yes;
    document.body.dataset.operator = yes ? "in" : "out";
  };
  const show = async () => {
    let listed;
    try { listed = await api("GET", "/api/operator/petitions"); } catch (error) {
      if (error.status === 401) { loggedIn(false); $("#operator-secret").focus(); return; }
      say(error.message, true); return;
    }
    loggedIn(true);
    const rows = listed.petitions.map((p) => {
      const revoke = el("button", { type: "button", class: "revoke", disabled: p.signer_revoked || !p.signer_serial },
        p.signer_revoked ? "폐지됨" : "인증서 폐지");
      revoke.addEventListener("click", async () => {
        revoke.disabled = true;
        try {
          const done = await api("POST", "/api/operator/revoke", { petition: p.id });
          say(`인증서 ${done.serial} (${done.ca})을(를) 폐지하고 CRL을 발행했습니다.`);
        } catch (error) { say(`폐지하지 못했습니다: ${error.message} (${error.code})`, true); }
        await show();
      });
      return el("tr", { "data-petition": p.id, "data-verdict": p.verdict },
        el("td", {}, shownTime(p.received_at)), el("td", {}, METHODS[p.method] || p.method),
        el("td", {}, p.excerpt), el("td", {}, p.signer || ""), el("td", { class: "mono" }, p.signer_serial || ""),
        el("td", { class: p.verdict === "invalid" ? "failed" : "passed" }, VERDICTS[p.verdict] || p.verdict),
        el("td", {}, el("a", { href: "/result.html?id=" + encodeURIComponent(p.id), class: "open" }, "결과 보기"), " ", revoke));
    });
    $("#petitions tbody").replaceChildren(...rows);
    document.body.dataset.loaded = String(rows.length);
  };
  $("#refresh").addEventListener("click", show);
  $("#login").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("POST", "/api/operator/login", { secret: $("#operator-secret").value });
    } catch (error) {
      say(error.status === 401 ? "운영자 비밀값이 틀렸습니다." : error.message, true); return;
    }
    $("#operator-secret").value = "";
    say("운영자로 로그인했습니다.");
    await show();
  });
  $("#log-out").addEventListener("click", async () => {
    try { await api("POST", "/api/operator/logout", {}); } catch (error) { say(error.message, true); return; }
    say("로그아웃했습니다.");
    await show();
  });
  await show();
}

// -- the phone ------------------------------------------------------------------------------

async function phonePage() {
  const show = async () => {
    let listed;
    try { listed = await api("GET", "/api/phone/requests"); } catch (error) {
      $("#requests").replaceChildren(el("p", {}, `요청을 불러오지 못했습니다: ${error.message}`));
      return;
    }
    if (!listed.requests.length) {
      $("#requests").replaceChildren(el("p", { id: "no-requests" }, "대기 중인 인증 요청이 없습니다."));
      return;
    }
    $("#requests").replaceChildren(...listed.requests.map((q) => {
      const pin = el("input", { type: "password", inputMode: "numeric", maxLength: 6, class: "pin", placeholder: "PIN 6자리", autocomplete: "off" });
      const approve = el("button", { type: "button", class: "approve" }, "승인");
      const decline = el("button", { type: "button", class: "secondary decline" }, "거절");
      approve.addEventListener("click", async () => {
        approve.disabled = true;
        try {
          await api("POST", `/api/phone/requests/${encodeURIComponent(q.request_id)}/approve`, { pin: pin.value });
          say("승인했습니다. 포털 화면으로 돌아가세요.");
          await show();
        } catch (error) {
          say(error.code === "wrong_pin" ? `PIN이 틀렸습니다 (남은 횟수 ${error.attempts_left})` : `승인하지 못했습니다: ${error.message}`, true);
          approve.disabled = false;
        }
      });
      decline.addEventListener("click", async () => {
        try { await api("POST", `/api/phone/requests/${encodeURIComponent(q.request_id)}/decline`, {}); say("거절했습니다."); } catch (error) { say(error.message, true); }
        await show();
      });
      return el("div", { class: "request", "data-request": q.request_id },
        el("strong", {}, q.relying_party), el("p", {}, q.text),
        el("p", { class: "detail" }, `만료: ${shownTime(q.expires_at)}`), pin, el("br"), approve, decline);
    }));
  };
  const inbox = async () => {
    try {
      const got = await api("GET", "/api/phone/messages");
      $("#messages").replaceChildren(...got.messages.slice().reverse().map((m) =>
        el("li", { class: "sms" }, el("span", { class: "detail" }, shownTime(m.at) + " "), m.text)));
    } catch (error) { /* the inbox is a convenience: the requests still work */ }
  };
  $("#refresh").addEventListener("click", () => { show(); inbox(); });
  await show();
  await inbox();
  // New requests and messages appear by themselves; a PIN being typed is left alone.
  setInterval(() => { if (!document.querySelector(".request")) show(); inbox(); }, 2000);
}

const PAGES = {
  index: startPage, petition: petitionPage, result: resultPage, operator: operatorPage,
  phone: phonePage, "bank-joint": () => window.bankPage && window.bankPage("joint"),
  "bank-financial": () => window.bankPage && window.bankPage("financial"),
};

document.addEventListener("DOMContentLoaded", () => {
  const run = PAGES[document.body.dataset.page];
  if (run) run();
});
