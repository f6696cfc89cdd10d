// The build page's live log: the WebSocket stream of builds/stream/consumer.py, resumed with
// ?since=<last seq> after a drop, following the tail unless the reader scrolled up.
"use strict";
(function () {
  var log = document.getElementById("log");
  if (!log) return;
  var state = document.getElementById("log-state");
  var followButton = document.getElementById("log-follow");
  var buildId = log.getAttribute("data-build-id");
  var tokenUrl = log.getAttribute("data-token-url");
  var lastSeq = 0;          // the seq of the last line shown: where a reconnect resumes
  var ended = false;        // the end event arrived, or the server refused for good
  var follow = true;        // stick to the bottom while new lines arrive
  var retryMs = 1000;
  var FINAL_CLOSE_CODES = { 4400: true, 4403: true, 4404: true };
  var LEVELS = { DEBUG: "debug", INFO: "info", WARN: "warn", ERROR: "error" };

  function setState(text, kind) {
    state.textContent = text;
    state.setAttribute("data-state", kind);
  }

  function setFollow(on) {
    follow = on;
    followButton.setAttribute("aria-pressed", on ? "true" : "false");
    followButton.textContent = on ? "Following" : "Paused: follow";
  }

  function atBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 8;
  }

  log.addEventListener("scroll", function () {
    // Scrolling up pauses the auto-scroll; scrolling back to the end resumes it.
    if (atBottom() !== follow) setFollow(atBottom());
  });
  followButton.addEventListener("click", function () {
    setFollow(true);
    log.scrollTop = log.scrollHeight;
  });

  function appendLine(message) {
    var seq = parseInt(message.metadata && message.metadata.seq, 10);
    if (!isNaN(seq)) {
      if (seq <= lastSeq) return;  // already shown (a replay after reconnect never duplicates)
      lastSeq = seq;
    }
    var row = document.createElement("div");
    var level = LEVELS[message.level] || "info";
    row.className = "line level-" + level;
    row.id = "L" + seq;
    var number = document.createElement("a");
    number.className = "ln";
    number.href = "#L" + seq;
    number.textContent = String(seq);
    var time = document.createElement("span");
    time.className = "ts";
    time.textContent = (message.timestamp || "").replace("T", " ").slice(11, 19);
    var lvl = document.createElement("span");
    lvl.className = "lvl";
    lvl.textContent = message.level;
    var text = document.createElement("span");
    text.className = "msg";
    text.textContent = message.message;
    row.append(number, time, lvl, text);
    log.appendChild(row);
  }

  function showNotice(text, level) {
    var row = document.createElement("div");
    row.className = "line notice level-" + (level || "info");
    row.textContent = text;
    log.appendChild(row);
  }

  function scheduleReconnect() {
    setState("reconnecting…", "reconnecting");
    window.setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 15000);
  }

  function connect() {
    fetch(tokenUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 404) { ended = true; throw new Error("gone"); }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (grant) {
        var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
        var url = scheme + "//" + window.location.host + "/api/v1/builds/" + buildId + "/logs/stream" +
          "?token=" + encodeURIComponent(grant.token) + "&tenant_id=" + encodeURIComponent(grant.tenant_id) +
          "&since=" + lastSeq;
        var socket = new WebSocket(url);
        socket.onopen = function () { setState("live", "live"); retryMs = 1000; };
        socket.onmessage = function (event) {
          var message = JSON.parse(event.data);
          if (message.error) {  // a refusal: one envelope frame, then a 44xx close
            showNotice(message.error, "error");
            return;
          }
          var kind = message.metadata && message.metadata.event;
          var stick = follow;
          if (kind === "end") {
            ended = true;
            showNotice(message.message, "info");
            setState("ended", "ended");
          } else if (kind) {
            showNotice(message.message, "warn");  // lagged: the server closes, we resume with ?since=
          } else {
            appendLine(message);
          }
          if (stick) log.scrollTop = log.scrollHeight;
        };
        socket.onclose = function (event) {
          if (FINAL_CLOSE_CODES[event.code]) ended = true;
          if (ended) {
            if (state.getAttribute("data-state") !== "ended") setState("closed", "ended");
          } else {
            scheduleReconnect();
          }
        };
      })
      .catch(function () { if (!ended) scheduleReconnect(); });
  }

  setFollow(true);
  connect();
})();
