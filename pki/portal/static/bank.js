// The demo bank's issuance pages: filled in by bankPage(kind).
"use strict";
window.bankPage = function bankPage(kind) {
  const steps = document.querySelector("#steps");
  steps.append(Object.assign(document.createElement("li"), { textContent: kind }));
};
