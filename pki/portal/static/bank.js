// The demo bank's issuance pages: a joint or a financial certificate issued with identity
// proofing, one step of kpki serve's registration authority (/ra/v1) at a time. The bank's
// calls go through the portal (/api/bank/call), which holds the bank's API key; each step
// shows what the bank sent and what kpki answered. Uses portal.js's el() and api(), which
// the page loads after this script (bankPage runs once both have).
"use strict";

window.bankPage = function bankPage(kind) {
  const config = window.PORTAL || {};
  const bank = config.bank;
  const person = config.person;
  const steps = document.querySelector("#steps");
  const status = document.querySelector("#status");
  if (!bank || !person) {
    status.hidden = false;
    status.textContent = "이 데모에는 은행이 없습니다.";
    return;
  }
  const rrn = person.rrn.replace("-", "");
  const birth = `19${rrn.slice(0, 2)}-${rrn.slice(2, 4)}-${rrn.slice(4, 6)}`;
  const state = {};

  async function call(method, path, body) {
    const data = await api("POST", "/api/bank/call", { method, path, body: body || null });
    if (data.status >= 400) {
      const error = data.answer.error || {};
      throw Object.assign(new Error(error.message || "refused"), error, { status: data.status });
    }
    return data.answer;
  }

  function field(id, label, value, type = "text") {
    return el("label", {}, label, " ", el("input", { id, value, type, autocomplete: "off" }));
  }

  const value = (id) => document.getElementById(id).value;

  async function lastCode(path, pattern) {
    const got = await call("GET", `${path}?phone=${person.phone}`);
    const texts = got.messages.map((m) => m.text);
    for (const text of texts.reverse()) {
      const found = text.match(pattern);
      if (found) return found[1];
    }
    throw new Error("휴대폰에 인증번호가 오지 않았습니다");
  }

  async function verifyPhone() {
    const sent = await call("POST", "/bank/v1/verifications", {
      name: person.name, phone: person.phone, rrn7: rrn.slice(0, 7), carrier: bank.carrier,
    });
    const code = await lastCode("/bank/v1/test/messages", /verification code (\d+)/);
    await call("POST", `/bank/v1/verifications/${sent.verification_id}/confirm`, { code });
    return sent.verification_id;
  }

  async function answerCard(prefix) {
    const challenge = await call("POST", `${prefix}/card-challenge`);
    const card = await call("GET", `/bank/v1/test/customers/${bank.customer_id}/card`);
    const answer = card.codes[challenge.first - 1].slice(0, 2) + card.codes[challenge.second - 1].slice(2);
    state.card = `보안카드 ${card.serial}: ${challenge.first}번 앞 2자리 + ${challenge.second}번 뒤 2자리 = ${answer}`;
    return call("POST", `${prefix}/medium`, { card: { challenge_id: challenge.challenge_id, answer } });
  }

  const joint = () => `/ra/v1/joint/sessions/${state.session}`;
  const financial = () => `/ra/v1/financial/sessions/${state.session}`;

  const flows = {
    joint: [
      ["발급 신청", "인터넷뱅킹에서 공동인증서 발급을 시작합니다.", [], async () => {
        const started = await call("POST", "/ra/v1/joint/sessions", { operation: "issue", device: bank.device });
        state.session = started.session_id;
        return started;
      }],
      ["약관 동의", "공동인증서 이용약관, 개인정보 수집·이용, 고유식별정보 처리에 동의합니다.", [],
        () => call("POST", `${joint()}/terms`, { agreed: config.terms, certificate: "general" })],
      ["본인 확인", "주민등록번호와 고객번호로 은행 고객임을 확인합니다.",
        [field("b-rrn", "주민등록번호", person.rrn)],
        () => call("POST", `${joint()}/identify`, { rrn: value("b-rrn").replace("-", ""), customer_id: bank.customer_id })],
      ["휴대폰 본인확인", "휴대폰으로 받은 6자리 인증번호를 확인합니다 (테스트 채널에서 읽음).", [],
        async () => call("POST", `${joint()}/phone`, { verification_id: await verifyPhone() })],
      ["출금계좌 확인", "계좌번호와 계좌 비밀번호를 확인합니다.",
        [field("b-account", "계좌번호", bank.account), field("b-account-password", "계좌 비밀번호", bank.account_password, "password")],
        () => call("POST", `${joint()}/account`, { number: value("b-account"), password: value("b-account-password") })],
      ["보안카드", "보안카드의 두 자리 번호를 입력합니다.", [], () => answerCard(joint())],
      ["인증서 발급", "인증서 암호를 정하면 공동인증서가 발급됩니다.",
        [field("b-password", "인증서 암호", "Bank-demo-1!", "password")],
        () => call("POST", `${joint()}/issue`, { password: value("b-password") })],
    ],
    financial: [
      ["발급 신청", "금융인증서 발급을 시작합니다.", [], async () => {
        const started = await call("POST", "/ra/v1/financial/sessions", { flow: "issue", device: bank.device, customer_id: bank.customer_id });
        state.session = started.session_id;
        return started;
      }],
      ["출금계좌 확인", "계좌번호와 계좌 비밀번호를 확인합니다.",
        [field("b-account", "계좌번호", bank.account), field("b-account-password", "계좌 비밀번호", bank.account_password, "password")],
        () => call("POST", `${financial()}/account`, { number: value("b-account"), password: value("b-account-password") })],
      ["휴대폰 본인확인", "휴대폰으로 받은 6자리 인증번호를 확인합니다 (테스트 채널에서 읽음).", [],
        async () => call("POST", `${financial()}/phone`, { verification_id: await verifyPhone() })],
      ["보안카드", "보안카드의 두 자리 번호를 입력합니다.", [], () => answerCard(financial())],
      ["클라우드 연결", "이름, 휴대폰 번호, 생년월일로 금융인증서 클라우드에 연결합니다.", [],
        () => call("POST", `${financial()}/cloud`, { name: person.name, phone: person.phone, birth_date: birth })],
      ["클라우드 인증번호", "클라우드가 휴대폰으로 보낸 2자리 인증번호를 확인합니다.", [],
        async () => call("POST", `${financial()}/confirm`, { code: await lastCode("/cloud/v1/test/messages", /code (\d\d)/) })],
      ["인증서 발급", "6자리 PIN을 정하면 금융인증서가 클라우드에 발급됩니다.",
        [field("b-pin", "PIN", "802417", "password")],
        () => call("POST", `${financial()}/issue`, { pin: value("b-pin"), pin_confirm: value("b-pin") })],
    ],
  }[kind];

  const buttons = [];
  flows.forEach(([title, lead, inputs, run], index) => {
    const outcome = el("pre", { className: "detail", hidden: true });
    const button = el("button", { type: "button", disabled: index > 0, className: "step" }, "진행");
    const item = el("li", { "data-step": String(index + 1) }, el("strong", {}, title), " ",
      el("span", { className: "detail" }, lead), ...inputs.map((i) => el("div", {}, i)), el("div", {}, button), outcome);
    button.addEventListener("click", async () => {
      button.disabled = true;
      state.card = null;
      try {
        const answer = await run();
        outcome.hidden = false;
        const shown = JSON.stringify(answer, (k, v) => (typeof v === "string" && v.length > 120 ? v.slice(0, 60) + "…" : v), 1);
        outcome.textContent = (state.card ? state.card + "\n" : "") + shown;
        item.dataset.done = "true";
        if (buttons[index + 1]) buttons[index + 1].disabled = false;
        if (index === flows.length - 1) {
          status.hidden = false;
          status.textContent = `발급되었습니다: 일련번호 ${answer.serial}`;
          document.body.dataset.issued = String(answer.serial);
        }
      } catch (error) {
        outcome.hidden = false;
        outcome.textContent = `거절: ${error.message} (${error.code || "error"})`;
        item.dataset.refused = error.code || "error";
        button.disabled = false;
      }
    });
    buttons.push(button);
    steps.append(item);
  });
};
