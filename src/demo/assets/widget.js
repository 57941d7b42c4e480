/* Mock CEC chat widget (cec-gateway demo). The real CEC answers newThirdPartyClient.js with its
   own, much larger, widget; this one is just enough to show the flow: a bubble, a panel that
   says who is connected, and an echo round trip through the gateway with the
   ccmessaging-token cookie. */
(function () {
  "use strict";
  var userName = "__CEC_THIRD_USER_NAME__";
  var contextPath = window.CEC_CONTEXT_PATH;
  if (typeof contextPath !== "string" || contextPath === "") {
    console.error("mock CEC widget: window.CEC_CONTEXT_PATH is not set; cannot reach the CEC");
    return;
  }
  if (document.getElementById("cec-chat-bubble")) {
    return; // already on the page
  }

  function el(tag, attrs, style) {
    var node = document.createElement(tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    Object.keys(style).forEach(function (k) { node.style[k] = style[k]; });
    return node;
  }

  var bubble = el("button", { id: "cec-chat-bubble", type: "button", title: "Chat with us", "aria-label": "Chat with us" }, {
    position: "fixed", right: "24px", bottom: "24px", width: "56px", height: "56px",
    borderRadius: "50%", border: "none", background: "#1677ff", color: "#fff",
    display: "flex", alignItems: "center", justifyContent: "center", padding: "0",
    cursor: "pointer", zIndex: "2147483000",
    boxShadow: "0 4px 12px rgba(0,0,0,.3)"
  });
  // A speech-bubble icon (a static string: nothing from the request goes into innerHTML).
  bubble.innerHTML = '<svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true">' +
    '<path fill="#fff" d="M4 3h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H10l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"/></svg>';

  var panel = el("div", { id: "cec-chat-panel", role: "dialog", "aria-label": "Chat" }, {
    position: "fixed", right: "24px", bottom: "92px", width: "300px", display: "none",
    background: "#fff", border: "1px solid #d0d7de", borderRadius: "8px", zIndex: "2147483000",
    boxShadow: "0 4px 16px rgba(0,0,0,.25)", font: "14px system-ui, sans-serif", color: "#1f2328"
  });
  var header = el("div", { id: "cec-chat-who" }, {
    padding: "10px 12px", background: "#1677ff", color: "#fff", borderRadius: "8px 8px 0 0"
  });
  header.textContent = "connected as " + userName;
  var messages = el("ul", { id: "cec-chat-messages" }, {
    listStyle: "none", margin: "0", padding: "8px 12px", height: "160px", overflowY: "auto"
  });
  var row = el("div", {}, { display: "flex", gap: "6px", padding: "8px 12px", borderTop: "1px solid #eee" });
  var input = el("input", { id: "cec-chat-input", type: "text", placeholder: "Type a message", autocomplete: "off" }, {
    flex: "1", padding: "6px"
  });
  var send = el("button", { id: "cec-chat-send", type: "button" }, { padding: "6px 10px" });
  send.textContent = "Send";
  row.appendChild(input);
  row.appendChild(send);
  panel.appendChild(header);
  panel.appendChild(messages);
  panel.appendChild(row);

  function append(text, who) {
    var li = el("li", { "class": "cec-chat-" + who }, { margin: "4px 0" });
    li.textContent = text;
    messages.appendChild(li);
    messages.scrollTop = messages.scrollHeight;
  }

  function sendMessage() {
    var text = input.value;
    if (text === "") {
      return;
    }
    input.value = "";
    append("you: " + text, "you");
    // A string body is sent as text/plain: a CORS "simple" request, no preflight. The
    // cookie the CEC set with the script (ccmessaging-token) goes along: credentials.
    fetch(contextPath + "/webclient/chat/echo", { method: "POST", credentials: "include", body: text })
      .then(function (resp) {
        if (!resp.ok) {
          throw new Error("echo failed: HTTP " + resp.status);
        }
        return resp.json();
      })
      .then(function (answer) { append(String(answer.reply), "agent"); })
      .catch(function (err) {
        append("error: " + err.message, "error");
        console.error("mock CEC widget: " + err.message);
      });
  }

  bubble.addEventListener("click", function () {
    panel.style.display = panel.style.display === "none" ? "block" : "none";
    if (panel.style.display === "block") {
      input.focus();
    }
  });
  send.addEventListener("click", sendMessage);
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter") {
      sendMessage();
    }
  });
  document.body.appendChild(panel);
  document.body.appendChild(bubble);
})();
